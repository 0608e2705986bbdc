"""What the annual cycle needs from the configuration, as plain values (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from archive.catalog.base import Catalog
from archive.catalog.years import year_items
from archive.domain.model import Item


@dataclass(frozen=True)
class CyclePolicy:
    fonds: str
    zone: ZoneInfo
    units: dict[str, dict] = field(default_factory=dict)
    handover_by: tuple[int, int] = (3, 1)
    archiving_by: tuple[int, int] = (6, 30)
    digits: int = 5

    @classmethod
    def from_settings(cls, s) -> CyclePolicy:
        cyc = s.section("cycle")
        md = [tuple(int(x) for x in cyc[k].split("-")) for k in ("handover_by", "archiving_by")]
        return cls(fonds=s.section("archive")["fonds"],
                   zone=s.unit_zone(None) or ZoneInfo("Asia/Shanghai"), units=s.units,
                   handover_by=md[0], archiving_by=md[1],
                   digits=int(cyc.get("item_number_digits", 5)))

    def zone_of(self, unit: str | None) -> ZoneInfo:
        name = self.units.get(unit or "", {}).get("zone")
        return ZoneInfo(name) if name else self.zone

    def unit_zones(self) -> dict[str, ZoneInfo]:
        return {u: self.zone_of(u) for u in self.units}

    def handover_deadline(self, year: int, unit: str | None) -> datetime:
        """Handed over *before* this instant: 00:00 of handover_by in N+1, unit's zone."""
        m, d = self.handover_by
        return datetime(year + 1, m, d, tzinfo=self.zone_of(unit))

    def archiving_deadline(self, year: int, unit: str | None) -> datetime:
        """Archived *by* archiving_by: the end of that day (00:00 of the next), unit's zone."""
        m, d = self.archiving_by
        return datetime(year + 1, m, d, tzinfo=self.zone_of(unit)) + timedelta(days=1)

    def year_end(self, year: int, unit: str | None) -> datetime:
        return datetime(year + 1, 1, 1, tzinfo=self.zone_of(unit))


def items_of_year(catalog: Catalog, policy: CyclePolicy, year: int) -> list[Item]:
    """Every item of year N (in its unit's zone), disposed ones left out."""
    return [i for i in year_items(catalog, year, policy.zone, unit_zones=policy.unit_zones())
            if i.status != "disposed"]
