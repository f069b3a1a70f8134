"""Interop: ``state_dict``/``load_state_dict``, PyTorch (``Net.from_torch``/``Net.to_torch``) and
ONNX (``Net.to_onnx``).

Nothing here is imported by ``fastgd`` itself: ``Net``'s methods import these modules when
called, so torch and onnx stay optional.
"""
