"""Net.from_torch / Net.to_torch / state_dict / load_state_dict, checked against torch itself:
outputs (train and eval mode), gradients, buffers and weight layouts."""

from __future__ import annotations

import fastgd as fg
import numpy as np
import pytest
from fastgd import layers as fg_layers
from fastgd import ops

torch = pytest.importorskip("torch")
nn = torch.nn

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TOL = {"float32": 2e-5, "float64": 1e-12}


def randomize(module, seed=0):
    """Random weights and running statistics (variances positive), so that a test can tell a
    transposed weight or a forgotten buffer."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point():
                t.fill_(3)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype))
    return module


# (id, torch module factory on 5 input features): every layer fastgd takes from torch
CASES = [
    ("linear_relu", lambda: nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))),
    ("no_bias_leaky", lambda: nn.Sequential(nn.Linear(5, 4, bias=False), nn.LeakyReLU(0.3), nn.Linear(4, 2))),
    ("sigmoid_tanh_identity", lambda: nn.Sequential(nn.Linear(5, 6), nn.Sigmoid(), nn.Identity(), nn.Linear(6, 4),
                                                    nn.Tanh())),
    ("nested", lambda: nn.Sequential(nn.Sequential(nn.Linear(5, 3), nn.Tanh()), nn.Linear(3, 2))),
    ("dropout", lambda: nn.Sequential(nn.Linear(5, 6), nn.Dropout(0.25), nn.Linear(6, 2))),
    ("batchnorm", lambda: nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6, eps=1e-3, momentum=0.2), nn.ReLU(),
                                        nn.Linear(6, 2))),
    ("batchnorm_plain", lambda: nn.Sequential(nn.BatchNorm1d(5, affine=False), nn.Linear(5, 2))),
    ("batchnorm_cumulative", lambda: nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4, momentum=None),
                                                   nn.Linear(4, 2))),
    ("batchnorm_batch_stats", lambda: nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4, track_running_stats=False),
                                                    nn.Linear(4, 2))),
    ("layernorm", lambda: nn.Sequential(nn.Linear(5, 6), nn.LayerNorm(6, eps=1e-4), nn.Linear(6, 3))),
    ("layernorm_no_affine", lambda: nn.Sequential(nn.LayerNorm(5, elementwise_affine=False), nn.Linear(5, 3))),
    ("layernorm_no_bias", lambda: nn.Sequential(nn.LayerNorm(5, bias=False), nn.Linear(5, 3))),
    ("gelu", lambda: nn.Sequential(nn.Linear(5, 6), nn.GELU(), nn.Linear(6, 6), nn.GELU(approximate="tanh"))),
    ("silu_elu", lambda: nn.Sequential(nn.Linear(5, 6), nn.SiLU(), nn.Linear(6, 6), nn.ELU(alpha=0.7))),
    ("softplus_softmax", lambda: nn.Sequential(nn.Linear(5, 6), nn.Softplus(beta=2.0, threshold=1.5),
                                               nn.Linear(6, 4), nn.Softmax(dim=-1))),
    ("mixed", lambda: nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                                    nn.Linear(8, 6), nn.LayerNorm(6), nn.GELU(), nn.Dropout(0.1), nn.Linear(6, 2))),
]
IDS = [c[0] for c in CASES]


def inputs(dtype, n=9, seed=1):
    X = np.random.default_rng(seed).standard_normal((n, 5)) * 2
    return np.asfortranarray(X.astype(dtype))  # a Fortran-ordered batch on purpose


def torch_out(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(X))).numpy()


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=IDS)
def test_from_torch_matches_torch_in_eval_mode(make, dtype):
    module = randomize(make().to(DTYPES[dtype])).eval()
    net = fg.Net.from_torch(module)
    assert net.dtype == np.dtype(dtype) and net.training is False
    X = inputs(dtype)
    np.testing.assert_allclose(net.predict(X), torch_out(module, X), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=IDS)
def test_to_torch_matches_net_and_round_trips(make, dtype):
    source = randomize(make().to(DTYPES[dtype]), seed=2).eval()
    net = fg.Net.from_torch(source)
    back = net.to_torch()
    assert isinstance(back, nn.Sequential) and back.training is False
    assert all(t.dtype == DTYPES[dtype] for t in back.parameters())
    X = inputs(dtype, seed=3)
    np.testing.assert_allclose(torch_out(back, X), net.predict(X), rtol=TOL[dtype], atol=TOL[dtype])
    # Its own copies: changing the torch model leaves the net alone.
    with torch.no_grad():
        for p in back.parameters():
            p.add_(1.0)
    np.testing.assert_allclose(net.predict(X), torch_out(source, X), rtol=TOL[dtype], atol=TOL[dtype])


class FixedMask(nn.Module):
    """torch's dropout with a given mask: ``x · mask · 1/(1 - p)``, as its native kernel."""

    def __init__(self, mask, p):
        super().__init__()
        self.mask, self.p = torch.from_numpy(mask), p

    def forward(self, x):
        return x * self.mask * (1 / (1 - self.p))


def with_fastgd_masks(module, net, X):
    """A copy of the flat ``module`` whose ``Dropout`` modules apply the masks ``net``'s Dropout
    layers draw at their next training forward of ``X`` (masks depend on shape, seed, counter)."""
    import copy

    shapes = {}
    hooks = [m.register_forward_hook(lambda m, args, out, i=i: shapes.__setitem__(i, tuple(args[0].shape)))
             for i, m in enumerate(module) if isinstance(m, nn.Dropout)]
    with torch.no_grad():
        copy.deepcopy(module).eval()(torch.from_numpy(X))  # (hooks are copied too)
    for h in hooks:
        h.remove()
    twin = copy.deepcopy(module)
    for i, shape in shapes.items():
        layer = net.layers[i]
        assert isinstance(layer, fg_layers.Dropout) and layer.p == module[i].p
        _, mask = ops.dropout(np.ones(shape, X.dtype), layer.p, layer.seed, int(layer.counter))
        twin[i] = FixedMask(mask, layer.p)
    return twin


@pytest.mark.parametrize("direction", ["from_torch", "to_torch"])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=IDS)
def test_train_mode_outputs_gradients_and_buffers_equal_torch(make, dtype, direction):
    """In train mode both ways: the same outputs (BatchNorm1d on batch statistics, Dropout with
    the masks fastgd draws), the same gradients of inputs and parameters, the same running
    statistics after the step."""
    source = randomize(make().to(DTYPES[dtype]), seed=4).train()
    if direction == "from_torch":
        module, net = source, fg.Net.from_torch(source)
    else:
        net = fg.Net.from_torch(source)
        module = net.to_torch()
    assert net.training and module.training
    rng = np.random.default_rng(5)
    X = (rng.standard_normal((16, 5)) * 2).astype(dtype)
    twin = with_fastgd_masks(module, net, X)
    x = torch.from_numpy(X.copy()).requires_grad_(True)
    y = twin(x)
    dY = rng.standard_normal(tuple(y.shape)).astype(dtype)
    y.backward(torch.from_numpy(dY))
    net.zero_grad()
    out = net.forward(X)
    dX = net.backward(dY)
    tol = dict(rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10)
    np.testing.assert_allclose(out, y.detach().numpy(), **tol, err_msg="output")
    np.testing.assert_allclose(dX, x.grad.numpy(), **tol, err_msg="dX")
    params = list(twin.parameters())
    assert len(params) == len(net.parameters())
    for p, t in zip(net.parameters(), params, strict=True):
        g = t.grad.numpy()
        np.testing.assert_allclose(p.grad, g.T if p.name == "W" else g, **tol, err_msg=p.name)
    for i, layer in enumerate(net.layers):
        if isinstance(layer, fg_layers.BatchNorm1d) and layer.track_running_stats:
            for name in ("running_mean", "running_var"):
                np.testing.assert_allclose(getattr(layer, name), getattr(twin[i], name).numpy(), **tol,
                                           err_msg=name)
            assert int(layer.num_batches_tracked) == int(twin[i].num_batches_tracked)


def test_linear_weight_is_transposed_both_ways():
    lin = randomize(nn.Linear(3, 2).double())
    net = fg.Net.from_torch(nn.Sequential(lin))
    np.testing.assert_array_equal(net.layers[0].W.data, lin.weight.detach().numpy().T)
    np.testing.assert_array_equal(net.layers[0].b.data, lin.bias.detach().numpy())
    assert net.layers[0].W.data.shape == (3, 2)
    net.layers[0].W.data[0, 1] = 42.0
    assert net.to_torch()[0].weight[1, 0].item() == 42.0


def test_single_module_and_fastgd_net_to_torch_from_scratch():
    net = fg.Net([fg.Linear(4, 3), fg.ReLU(), fg.Linear(3, 2, bias=False)], dtype="float64", seed=5)
    model = net.to_torch()
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"] and model[2].bias is None
    X = inputs("float64")[:, :4]
    np.testing.assert_allclose(torch_out(model, X), net.predict(X), rtol=1e-12, atol=1e-12)
    single = fg.Net.from_torch(randomize(nn.Linear(4, 2)))
    assert len(single) == 1 and single.dtype == np.float32


def test_gradients_agree_with_torch_autograd():
    module = randomize(nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2)).double())
    net = fg.Net.from_torch(module)
    X = np.ascontiguousarray(inputs("float64"))
    out = net.forward(X)
    net.zero_grad()
    net.backward(2 * out / out.size)  # d/dout of mean(out²)
    xt = torch.from_numpy(X)
    (module(xt) ** 2).mean().backward()
    np.testing.assert_allclose(net.layers[0].W.grad, module[0].weight.grad.numpy().T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(net.layers[2].b.grad, module[2].bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_train_mode_batchnorm_uses_batch_stats_and_updates_the_same_buffers():
    module = randomize(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4, momentum=0.3)).double()).train()
    net = fg.Net.from_torch(module)
    assert net.training and net.layers[1].training
    X = np.ascontiguousarray(inputs("float64", n=16))
    expected = module(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(net.forward(X), expected, rtol=1e-10, atol=1e-10)
    got = net.state_dict()
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(got[f"1.{name}"], getattr(module[1], name).numpy(), rtol=1e-12)
    back = net.to_torch()
    assert back.training and back[1].training
    np.testing.assert_array_equal(back[1].running_var.numpy(), got["1.running_var"])


def test_dropout_train_mode_is_carried_over():
    module = nn.Sequential(nn.Linear(5, 5), nn.Dropout(0.5)).train()
    net = fg.Net.from_torch(module)
    assert net.training and net.layers[1].training and net.layers[1].p == 0.5
    assert net.eval().to_torch()[1].training is False


def test_mixed_modes_per_layer_are_kept():
    module = nn.Sequential(nn.Linear(5, 5), nn.ReLU())
    module.train()
    module[1].eval()
    net = fg.Net.from_torch(module)
    assert [layer.training for layer in net.layers] == [True, False]
    assert [m.training for m in net.to_torch()] == [True, False]


class Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Residual(Chain):
    def __init__(self):
        super().__init__()
        self.fc2 = nn.Linear(4, 4)
        self.fc1 = nn.Linear(5, 4)
        self.skip = nn.Identity()

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(self.act(h)) + h


def test_a_custom_chain_module_is_accepted_and_checked():
    module = randomize(Chain())
    net = fg.Net.from_torch(module)
    X = inputs("float32")
    np.testing.assert_allclose(net.predict(X), torch_out(module, X), rtol=2e-5, atol=2e-5)
    assert module.training and net.training  # the check ran in eval mode and restored both


def test_a_custom_module_that_is_not_a_chain_is_refused():
    with pytest.raises(ValueError, match="Residual is not the chain of its children"):
        fg.Net.from_torch(randomize(Residual()))


@pytest.mark.parametrize("make, name", [
    (lambda: nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1)), r"1: Conv1d"),
    (lambda: nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.Hardswish())), r"0\.1: Hardswish"),
    (lambda: nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=0)), r"Softmax\(dim=0\)"),
    (lambda: nn.Sequential(nn.LayerNorm((2, 2))), r"LayerNorm over \(2, 2\)"),
])
def test_unsupported_modules_are_a_value_error_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        fg.Net.from_torch(make())


def test_a_subclass_of_a_supported_module_is_not_taken_for_it():
    class Doubled(nn.ReLU):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(ValueError, match="unsupported module 1: Doubled"):
        fg.Net.from_torch(nn.Sequential(nn.Linear(3, 3), Doubled()))


def test_dtypes_and_bad_arguments():
    assert fg.Net.from_torch(nn.Linear(3, 2).double()).dtype == np.float64
    assert fg.Net.from_torch(nn.Linear(3, 2).double(), dtype="float32").dtype == np.float32
    assert fg.Net.from_torch(nn.Sequential(nn.ReLU())).dtype == np.float32
    with pytest.raises(TypeError, match=r"torch.float16"):
        fg.Net.from_torch(nn.Linear(3, 2).half())
    with pytest.raises(TypeError, match="mixes torch.float32 and torch.float64"):
        fg.Net.from_torch(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2).double()))
    with pytest.raises(TypeError, match="module must be a torch.nn.Module, got list"):
        fg.Net.from_torch([nn.Linear(3, 2)])
    with pytest.raises(ValueError, match="has no layers"):
        fg.Net.from_torch(nn.Sequential())


def test_to_torch_refuses_a_layer_without_equivalent():
    class Double(fg.Layer):
        def forward(self, X):
            return 2 * X

    with pytest.raises(ValueError, match=r"layers\[1\] Double\(\) has no torch equivalent"):
        fg.Net([fg.Linear(2, 2), Double()], seed=0).to_torch()


def test_state_dict_includes_batchnorm_buffers_in_layer_order():
    net = fg.Net([fg.Linear(4, 3), fg_layers.BatchNorm1d(3), fg.Linear(3, 2)], seed=0)
    assert list(net.state_dict()) == ["0.W", "0.b", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked", "2.W", "2.b"]
    module = randomize(net.to_torch())
    twin = fg.Net.from_torch(module)
    np.testing.assert_array_equal(twin.state_dict()["1.running_var"], module[1].running_var.numpy())
