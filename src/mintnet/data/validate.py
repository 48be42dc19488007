"""Checks of constructor values, each raising a ValueError that names the key and the value."""

__all__ = ["fraction_size", "require_fraction", "require_int"]


def require_int(key: str, value: object, minimum: int) -> None:
    """Refuse anything but an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")


def require_fraction(key: str, value: object) -> None:
    """Refuse anything but a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ValueError(f"{key} must be a number strictly between 0 and 1, got {value!r}")


def fraction_size(key: str, fraction: float, n: int) -> int:
    """``round(fraction * n)``, refused when it would leave either part of ``n`` empty."""
    size = round(fraction * n)
    if not 1 <= size <= n - 1:
        raise ValueError(
            f"{key}={fraction} of {n} images gives {size}; it must leave 1..{n - 1} images"
        )
    return size
