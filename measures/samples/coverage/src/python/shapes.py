"""A tiny module measured by coverage.py for the coverage samples: some
lines and branches are exercised by test_shapes.py, some on purpose not."""

import math


def area(shape, *dims):
    if shape == "square":
        (side,) = dims
        return side * side
    if shape == "rectangle":
        width, height = dims
        return width * height
    if shape == "circle":
        (radius,) = dims
        return math.pi * radius * radius
    raise ValueError(f"unknown shape {shape!r}")


def classify(angle):
    if angle <= 0 or angle >= 180:
        raise ValueError("not an angle of a triangle")
    if angle < 90:
        return "acute"
    elif angle == 90:
        return "right"
    return "obtuse"


def largest(shapes):
    best = None
    for shape, dims in shapes:
        a = area(shape, *dims)
        if best is None or a > best:
            best = a
    return best


def never_called():
    total = 0
    for i in range(10):
        total += i
    return total
