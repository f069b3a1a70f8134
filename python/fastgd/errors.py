"""fastgd's own exception types."""

from __future__ import annotations

__all__ = ["DivergenceError"]


class DivergenceError(FloatingPointError):
    """Training diverged: the loss became NaN/inf or exploded.

    Raised by ``Net.fit`` (see its ``divergence_factor`` argument). The message says where it
    happened (epoch, batch, loss) and what to try: a lower learning rate, standardised features
    and targets, checking the labels. It is a ``FloatingPointError``, so
    ``except FloatingPointError`` catches it too.

    Example:
        >>> try:
        ...     net.fit(X_raw_polynomial, y, optimizer="sgd", lr=0.1)
        ... except fastgd.DivergenceError as e:
        ...     print(e)   # "training diverged at epoch 1, batch 3: loss = 2.1e+21 ..."
    """
