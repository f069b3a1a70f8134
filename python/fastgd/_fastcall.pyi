# The Cython extension fastgd._fastcall (src/cython/_fastcall.pyx).
import typing

class EngineStep:
    """``engine.step`` of one pybind11 ``fastgd._core.Engine`` (bound), called from Cython."""

    @property
    def fallbacks(self) -> int: ...
    def __init__(self, engine: typing.Any) -> None: ...
    def step(self, X: typing.Any, y: typing.Any, sample_weight: typing.Any = None) -> float: ...
    def repeat(self, X: typing.Any, y: typing.Any, sample_weight: typing.Any = None, count: int = 1) -> float: ...

def unchanged(groups: list[typing.Any]) -> bool:
    """True when each group's ``group`` dict holds, in order, the very objects of its ``seen``."""
