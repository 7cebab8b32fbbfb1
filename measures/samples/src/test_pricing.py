"""A small pytest suite run by generate.sh to produce pytest-junit.xml.

It has passing, failing, erroring and skipped tests on purpose, so the
junit-tests measure has every outcome to count.
"""

import pytest


def price(quantity, unit):
    if quantity < 0:
        raise ValueError("negative quantity")
    return round(quantity * unit, 2)


def test_price_of_nothing_is_zero():
    assert price(0, 9.99) == 0


def test_price_rounds_to_cents():
    assert price(3, 0.333) == 1.0


def test_bulk_discount_applies():
    # Not implemented yet: this failure is intended.
    assert price(100, 1.0) == 90.0


def test_negative_quantity_is_refused():
    with pytest.raises(ValueError):
        price(-1, 1.0)


@pytest.fixture
def exchange_rates():
    raise ConnectionError("rates service unreachable")


def test_price_in_euros(exchange_rates):
    assert price(1, 1.0) * exchange_rates["EUR"] > 0


@pytest.mark.skip(reason="currency rounding rules pending")
def test_price_in_yen():
    assert price(1, 1.0) == 1


def test_unit_price_is_kept():
    assert price(1, 4.5) == 4.5
