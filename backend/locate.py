"""Where a new report goes: its unit of Huế (from lat/long, else from the address) and agency."""
from __future__ import annotations

from bot.area import Area, Unit

from .directory import Directory
from .errors import bad_request
from .forms import NewReport
from .queries import Routing

_OUTSIDE = (
    "Vị trí này nằm ngoài thành phố Huế; hệ thống chỉ tiếp nhận phản ánh trong địa bàn Huế.",
    "The location is outside Huế city; only reports within Huế are accepted.",
)


def unit_of(area: Area, new: NewReport) -> Unit:
    if new.lat is not None and new.long is not None:
        unit = area.unit_at(new.lat, new.long)
        if unit is None:
            raise bad_request(*_OUTSIDE)
        return unit
    units = area.units_named_in(new.address or "")
    if not units:
        raise bad_request(
            "Không xác định được phường/xã từ địa chỉ; vui lòng ghi rõ tên phường/xã ở Huế "
            "hoặc gửi vị trí.",
            "address_string names no ward or commune of Huế; add one or send lat/long.",
        )
    if len(units) > 1:
        names = ", ".join(unit.full_name for unit in units)
        raise bad_request(
            f"Địa chỉ nêu nhiều phường/xã ({names}); vui lòng chỉ ghi một hoặc gửi vị trí.",
            "address_string names several wards or communes; name one or send lat/long.",
        )
    return units[0]


def route(area: Area, directory: Directory, new: NewReport) -> Routing:
    unit = unit_of(area, new)
    agency = directory.agency_for(new.service_code, unit, new.description)
    return Routing(
        ward_code=unit.code,
        agency_id=agency.id,
        agency_name=agency.name,
        deadline=directory.deadline(new.service_code),
    )
