"""Money: exchange rates (today's and historical), currency conversion and everyday finance maths."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

from palaestra import ToolError, tool
from palaestra.envs.tools.data import CITIES, CURRENCIES
from palaestra.envs.tools.gen import sig
from palaestra.envs.tools.state import WorldState, norm

RATE_HISTORY_DAYS = 90


def rate_on(seed: int, per_usd: dict[str, float], base: str, target: str, day: dt.date | None) -> float:
    """Units of ``target`` per unit of ``base`` today (``day=None``) or on a past day."""

    def units(code: str) -> float:
        if code == "USD":
            return 1.0
        if day is None:
            return per_usd[code]
        drift = random.Random(f"{seed}|fx|{code}|{day.isoformat()}").uniform(-0.035, 0.035)
        return per_usd[code] * (1 + drift)

    return sig(units(target) / units(base))


def money(x: float) -> float:
    if not math.isfinite(x) or abs(x) > 1e15:
        raise ToolError("the amount is out of range.")
    return round(x, 2)


class FinanceTools(WorldState):
    def _past(self, date: str) -> dt.date:
        day = self.date(date)
        if day >= self.today:
            raise ToolError(f"{day} is not in the past; use get_exchange_rate for today's rate.")
        if day < self.today - dt.timedelta(days=RATE_HISTORY_DAYS):
            raise ToolError(f"rate history covers only the last {RATE_HISTORY_DAYS} days.")
        return day

    @tool
    def get_exchange_rate(self, base_currency: str, target_currency: str) -> dict[str, Any]:
        """Today's exchange rate: how many units of the target currency one unit of the base buys.

        Args:
            base_currency: ISO code of the currency you have, e.g. "EUR".
            target_currency: ISO code of the currency you want, e.g. "JPY".
        """
        b, t = self.currency(base_currency), self.currency(target_currency)
        return {
            "base": b,
            "target": t,
            "rate": rate_on(self.seed, self.per_usd, b, t, None),
            "date": str(self.today),
        }

    @tool
    def convert_currency(self, amount: float, from_currency: str, to_currency: str) -> dict[str, Any]:
        """Convert an amount of money between currencies at today's rate (result rounded to cents).

        Args:
            amount: the amount in from_currency.
            from_currency: ISO code, e.g. "GBP".
            to_currency: ISO code, e.g. "USD".
        """
        f, t = self.currency(from_currency), self.currency(to_currency)
        rate = rate_on(self.seed, self.per_usd, f, t, None)
        return {"amount": amount, "from": f, "to": t, "rate": rate, "result": money(amount * rate)}

    @tool
    def get_historical_exchange_rate(
        self, base_currency: str, target_currency: str, date: str
    ) -> dict[str, Any]:
        """Exchange rate of a past day (last 90 days): units of target per unit of base on that date.

        Args:
            base_currency: ISO code of the base currency.
            target_currency: ISO code of the target currency.
            date: past day, YYYY-MM-DD.
        """
        b, t, day = self.currency(base_currency), self.currency(target_currency), self._past(date)
        return {
            "base": b,
            "target": t,
            "date": day.isoformat(),
            "rate": rate_on(self.seed, self.per_usd, b, t, day),
        }

    @tool
    def convert_currency_historical(
        self, amount: float, from_currency: str, to_currency: str, date: str
    ) -> dict[str, Any]:
        """Convert money at the exchange rate of a past day (last 90 days), not today's rate.

        Args:
            amount: the amount in from_currency.
            from_currency: ISO code.
            to_currency: ISO code.
            date: past day whose rate to use, YYYY-MM-DD.
        """
        f, t, day = self.currency(from_currency), self.currency(to_currency), self._past(date)
        rate = rate_on(self.seed, self.per_usd, f, t, day)
        return {
            "amount": amount,
            "from": f,
            "to": t,
            "date": day.isoformat(),
            "rate": rate,
            "result": money(amount * rate),
        }

    @tool
    def list_currencies(self) -> list[dict[str, str]]:
        """All currencies the exchange knows, with their ISO codes and names."""
        return [{"code": c, "name": n} for c, (n, _) in CURRENCIES.items()]

    @tool
    def get_currency_of_country(self, country: str) -> dict[str, str]:
        """The currency used in a country.

        Args:
            country: country name, e.g. "Japan".
        """
        for c in CITIES:
            if norm(c.country) == norm(country):
                return {"country": c.country, "currency": c.currency, "name": CURRENCIES[c.currency][0]}
        raise ToolError(f"unknown country {country!r}; get_city_info gives a city's country and currency.")

    @tool
    def compound_interest(
        self, principal: float, annual_rate_percent: float, years: float, compounds_per_year: int = 12
    ) -> dict[str, float]:
        """Final balance of a deposit with compound interest.

        Args:
            principal: starting amount.
            annual_rate_percent: nominal yearly interest rate in percent, e.g. 3.5.
            years: duration in years.
            compounds_per_year: how often interest is added per year (12 = monthly).
        """
        if not 1 <= compounds_per_year <= 366 or not 0 <= years <= 100:
            raise ToolError("compounds_per_year must be 1..366 and years between 0 and 100.")
        try:
            final = principal * (1 + annual_rate_percent / 100 / compounds_per_year) ** (
                compounds_per_year * years
            )
        except (OverflowError, ZeroDivisionError):
            raise ToolError("the result is out of range.") from None
        return {"final_balance": money(final), "interest_earned": money(final - principal)}

    @tool
    def simple_interest(self, principal: float, annual_rate_percent: float, years: float) -> dict[str, float]:
        """Simple (non-compounded) interest earned on a principal.

        Args:
            principal: starting amount.
            annual_rate_percent: yearly rate in percent.
            years: duration in years.
        """
        interest = principal * annual_rate_percent / 100 * years
        return {"interest": money(interest), "total": money(principal + interest)}

    @tool
    def loan_monthly_payment(
        self, principal: float, annual_rate_percent: float, years: float
    ) -> dict[str, float]:
        """Monthly payment of an amortised loan (fixed rate, equal monthly instalments).

        Args:
            principal: amount borrowed.
            annual_rate_percent: yearly interest rate in percent.
            years: loan term in years.
        """
        if not 1 / 12 <= years <= 100:
            raise ToolError("the loan term must be between one month and 100 years.")
        n = round(years * 12)
        r = annual_rate_percent / 100 / 12
        try:
            pay = principal / n if r == 0 else principal * r / (1 - (1 + r) ** -n)
        except (OverflowError, ZeroDivisionError):
            raise ToolError("no payment plan exists for this rate.") from None
        return {"monthly_payment": money(pay), "total_paid": money(pay * n)}

    @tool
    def calculate_tip(self, bill_amount: float, tip_percent: float) -> dict[str, float]:
        """Tip for a restaurant bill and the bill including the tip.

        Args:
            bill_amount: the bill before tip.
            tip_percent: tip in percent, e.g. 15.
        """
        tip = bill_amount * tip_percent / 100
        return {"tip": money(tip), "total": money(bill_amount + tip)}

    @tool
    def split_bill(self, total: float, people: int, tip_percent: float = 0) -> dict[str, float]:
        """Share of a bill per person, optionally after adding a tip.

        Args:
            total: the bill.
            people: number of people sharing it.
            tip_percent: tip to add first, in percent.
        """
        if people < 1:
            raise ToolError("people must be at least 1.")
        grand = total * (1 + tip_percent / 100)
        return {"total_with_tip": money(grand), "per_person": money(grand / people)}

    @tool
    def add_sales_tax(self, amount: float, tax_rate_percent: float) -> dict[str, float]:
        """Price including sales tax / VAT.

        Args:
            amount: price before tax.
            tax_rate_percent: tax rate in percent, e.g. 20.
        """
        tax = amount * tax_rate_percent / 100
        return {"tax": money(tax), "total": money(amount + tax)}
