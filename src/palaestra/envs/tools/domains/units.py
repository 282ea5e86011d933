"""Unit conversion, one tool per physical quantity (results to 6 significant digits)."""

from __future__ import annotations

from typing import Any, Literal

from palaestra import ToolError, tool
from palaestra.envs.tools.gen import sig
from palaestra.envs.tools.state import WorldState

# Size of each unit in the quantity's SI unit.
FACTORS: dict[str, dict[str, float]] = {
    "length": {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "in": 0.0254, "ft": 0.3048,
               "yd": 0.9144, "mi": 1609.344, "nmi": 1852.0},
    "mass": {"mg": 1e-6, "g": 0.001, "kg": 1.0, "t": 1000.0, "oz": 0.028349523125, "lb": 0.45359237,
             "st": 6.35029318},
    "volume": {"ml": 0.001, "l": 1.0, "m3": 1000.0, "tsp": 0.00492892159375, "tbsp": 0.01478676478125,
               "fl_oz": 0.0295735295625, "cup": 0.2365882365, "pt": 0.473176473, "qt": 0.946352946,
               "gal": 3.785411784, "imp_gal": 4.54609},
    "speed": {"m_s": 1.0, "km_h": 1 / 3.6, "mph": 0.44704, "kn": 1852 / 3600, "ft_s": 0.3048},
    "area": {"mm2": 1e-6, "cm2": 1e-4, "m2": 1.0, "km2": 1e6, "ha": 1e4, "acre": 4046.8564224,
             "in2": 0.00064516, "ft2": 0.09290304, "yd2": 0.83612736, "mi2": 2589988.110336},
    "duration": {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0, "week": 604800.0,
                 "year": 31536000.0},
    "data": {"bit": 0.125, "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 1024.0,
             "MiB": 1024.0**2, "GiB": 1024.0**3, "TiB": 1024.0**4},
    "energy": {"J": 1.0, "kJ": 1000.0, "cal": 4.184, "kcal": 4184.0, "Wh": 3600.0, "kWh": 3.6e6,
               "BTU": 1055.05585},
    "pressure": {"Pa": 1.0, "kPa": 1000.0, "bar": 1e5, "atm": 101325.0, "psi": 6894.757293168,
                 "mmHg": 133.322387415},
    "power": {"W": 1.0, "kW": 1000.0, "MW": 1e6, "hp": 745.69987158227},
}  # fmt: skip

LengthUnit = Literal["mm", "cm", "m", "km", "in", "ft", "yd", "mi", "nmi"]
MassUnit = Literal["mg", "g", "kg", "t", "oz", "lb", "st"]
VolumeUnit = Literal["ml", "l", "m3", "tsp", "tbsp", "fl_oz", "cup", "pt", "qt", "gal", "imp_gal"]
SpeedUnit = Literal["m_s", "km_h", "mph", "kn", "ft_s"]
AreaUnit = Literal["mm2", "cm2", "m2", "km2", "ha", "acre", "in2", "ft2", "yd2", "mi2"]
DurationUnit = Literal["ms", "s", "min", "h", "day", "week", "year"]
DataUnit = Literal["bit", "B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"]
EnergyUnit = Literal["J", "kJ", "cal", "kcal", "Wh", "kWh", "BTU"]
PressureUnit = Literal["Pa", "kPa", "bar", "atm", "psi", "mmHg"]
PowerUnit = Literal["W", "kW", "MW", "hp"]
TempUnit = Literal["C", "F", "K"]


def convert(quantity: str, value: float, from_unit: str, to_unit: str) -> float:
    table = FACTORS[quantity]
    return sig(value * table[from_unit] / table[to_unit])


def convert_temp(value: float, from_unit: str, to_unit: str) -> float:
    kelvin = {"C": value + 273.15, "F": (value - 32) * 5 / 9 + 273.15, "K": value}[from_unit]
    if kelvin < 0:
        raise ToolError(f"{value} {from_unit} is below absolute zero.")
    out = {"C": kelvin - 273.15, "F": (kelvin - 273.15) * 9 / 5 + 32, "K": kelvin}[to_unit]
    return round(out, 2)


def _result(value: float, from_unit: str, to_unit: str, result: float) -> dict[str, Any]:
    return {"value": value, "from": from_unit, "to": to_unit, "result": result}


class UnitTools(WorldState):
    @tool
    def convert_length(self, value: float, from_unit: LengthUnit, to_unit: LengthUnit) -> dict[str, Any]:
        """Convert a length or distance (mm, cm, m, km, in, ft, yd, mi, nmi).

        Args:
            value: the length in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("length", value, from_unit, to_unit))

    @tool
    def convert_mass(self, value: float, from_unit: MassUnit, to_unit: MassUnit) -> dict[str, Any]:
        """Convert a mass or weight (mg, g, kg, t, oz, lb, st).

        Args:
            value: the mass in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("mass", value, from_unit, to_unit))

    @tool
    def convert_volume(self, value: float, from_unit: VolumeUnit, to_unit: VolumeUnit) -> dict[str, Any]:
        """Convert a volume of liquid (ml, l, m3, tsp, tbsp, fl_oz, cup, pt, qt, US gal, imperial gal).

        Args:
            value: the volume in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("volume", value, from_unit, to_unit))

    @tool
    def convert_temperature(self, value: float, from_unit: TempUnit, to_unit: TempUnit) -> dict[str, Any]:
        """Convert a temperature between Celsius (C), Fahrenheit (F) and Kelvin (K), rounded to 2 decimals.

        Args:
            value: the temperature in from_unit.
            from_unit: C, F or K.
            to_unit: C, F or K.
        """
        return _result(value, from_unit, to_unit, convert_temp(value, from_unit, to_unit))

    @tool
    def convert_speed(self, value: float, from_unit: SpeedUnit, to_unit: SpeedUnit) -> dict[str, Any]:
        """Convert a speed (m_s = metres per second, km_h, mph, kn = knots, ft_s).

        Args:
            value: the speed in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("speed", value, from_unit, to_unit))

    @tool
    def convert_area(self, value: float, from_unit: AreaUnit, to_unit: AreaUnit) -> dict[str, Any]:
        """Convert an area (mm2, cm2, m2, km2, ha, acre, in2, ft2, yd2, mi2).

        Args:
            value: the area in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("area", value, from_unit, to_unit))

    @tool
    def convert_duration(
        self, value: float, from_unit: DurationUnit, to_unit: DurationUnit
    ) -> dict[str, Any]:
        """Convert a span of time (ms, s, min, h, day, week, year of 365 days).

        Args:
            value: the duration in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("duration", value, from_unit, to_unit))

    @tool
    def convert_data_size(self, value: float, from_unit: DataUnit, to_unit: DataUnit) -> dict[str, Any]:
        """Convert an amount of digital data (bit, B, decimal KB/MB/GB/TB, binary KiB/MiB/GiB/TiB).

        Args:
            value: the size in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("data", value, from_unit, to_unit))

    @tool
    def convert_energy(self, value: float, from_unit: EnergyUnit, to_unit: EnergyUnit) -> dict[str, Any]:
        """Convert an amount of energy (J, kJ, cal, kcal, Wh, kWh, BTU).

        Args:
            value: the energy in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("energy", value, from_unit, to_unit))

    @tool
    def convert_pressure(
        self, value: float, from_unit: PressureUnit, to_unit: PressureUnit
    ) -> dict[str, Any]:
        """Convert a pressure (Pa, kPa, bar, atm, psi, mmHg).

        Args:
            value: the pressure in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("pressure", value, from_unit, to_unit))

    @tool
    def convert_power(self, value: float, from_unit: PowerUnit, to_unit: PowerUnit) -> dict[str, Any]:
        """Convert a power (W, kW, MW, hp = mechanical horsepower).

        Args:
            value: the power in from_unit.
            from_unit: unit of value.
            to_unit: unit wanted.
        """
        return _result(value, from_unit, to_unit, convert("power", value, from_unit, to_unit))
