"""Configuration: the shipped default policy, a user file over it, checked before anything runs.

Every key is known; an unknown key, a wrong type or a contradiction is refused with the file,
the key and what is wrong (a typo in a retention rule must not silently keep the default).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from archive.domain.errors import ConfigError, InputError
from archive.domain.model import ACTIVITY_TYPES, ROLES
from i18n import N_, Text

DEFAULT_NAME = "config/default.toml"
EVIDENCE_RULES = ("case", "long-term", "permanent")
OFFLOAD_RULES = ("same-day", "24h", "2d")
APPROVER_ROLES = ("法制股", "分管领导", "主管领导", "局领导")
MIN_HORIZON_YEARS = 30  # the least a lock of something kept for ever reaches ahead

_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "archive": {"fonds": str, "zone": str, "language": str, "name": str},
    "verification": {"aql": float},
    "station": {"id": str},
    "catalog": {"backend": str, "path": str, "uri": str, "database": str},
    "store": {"backend": str, "path": str, "immutable": bool, "endpoint_url": str,
              "bucket": str, "region": str, "part_size_mib": int},
    "replica": {"backend": str, "path": str, "immutable": bool, "endpoint_url": str,
                "bucket": str, "region": str, "part_size_mib": int, "write_on_ingest": bool},
    "ledger": {"checkpoint_retention_years": int},
    "ingest": {"workers": int, "chunk_mib": int, "time_tolerance_s": int,
               "max_recording_hours": int, "document_deadline_days": int, "quarantine": str,
               "rejected": str},
    "scanner": {"socket": str, "host": str, "port": int, "database_dir": str,
                "allow_test_signatures": bool, "window_mib": int, "overlap_mib": int,
                "max_threads": int},
    "formats": {"video": list, "audio": list, "photo": list, "document": list, "data": list},
    "cycle": {"handover_by": str, "archiving_by": str, "item_number_digits": int},
    "report": {"required_activity_types": list},
    "retention": {"permanent_lock_years": int, "renew_within_years": int, "expiring_days": int,
                  "check_within_days": int},
    "disposal": {"appraisers": int, "appraiser_role": str, "witnesses": int,
                 "witness_valid_hours": int},
    "watch": {"settle_s": int, "marker": str, "require_marker": bool, "poll_s": int,
              "retry_s": int, "retry_max_s": int, "manifests": list, "state": str,
              "done": str},
    "web": {"rp_id": str, "origin": str, "name": str, "bind": str, "port": int, "cert": str,
            "key": str, "session_idle_minutes": int, "session_hours": int,
            "sign_in_failures_per_minute": int, "threads": int, "download_hours": int},
}
_UNIT_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "zone": str, "routine_months": int, "evidence": str, "evidence_years": int,
    "offload": str, "approver_role": str, "case_periods": dict, "disc_copies": bool,
    "confirm_role": str, "required_activity_types": list,
}


def default_home() -> Path:
    env = os.environ.get("CUSTODY_HOME")
    if env:
        return Path(env)
    return Path.home() / ".local" / "share" / "custody"


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _language(file: str, name: str) -> None:
    import i18n

    try:
        i18n.normalize(name)
    except i18n.UnknownLanguage as exc:
        raise ConfigError(file, "archive.language", Text(
            "unknown language {language!r}: custody speaks {choices}", language=name,
            choices=", ".join(i18n.LANGUAGES))) from exc


def _aql(file: str, value: float) -> None:
    from archive.domain.sampling import AQLS

    if value and value not in AQLS:
        raise ConfigError(file, "verification.aql", Text(
            "{value} is not an AQL of GB/T 2828.1's series ({choices}); 0 means Ac = 0",
            value=value, choices=", ".join(f"{a:g}" for a in AQLS)))


def _zone(file: str, key: str, name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(file, key, Text("unknown time zone {zone!r}", zone=name)) from exc


def _month_day(file: str, key: str, value: str) -> tuple[int, int]:
    try:
        m, d = (int(x) for x in value.split("-"))
        if not (1 <= m <= 12 and 1 <= d <= 31):
            raise ValueError
    except ValueError as exc:
        raise ConfigError(file, key, Text("{value!r} is not a MM-DD date",
                                          value=value)) from exc
    return m, d


@dataclass(frozen=True)
class Settings:
    data: dict
    home: Path
    files: tuple[str, ...]

    def section(self, name: str) -> dict:
        return self.data.get(name, {})

    @property
    def units(self) -> dict[str, dict]:
        return self.data.get("units", {})

    def unit_zone(self, unit: str | None) -> ZoneInfo | None:
        """The unit's zone, else the archive's; None when neither is configured."""
        name = (self.units.get(unit or "", {}).get("zone") or
                self.data["archive"].get("zone") or "")
        return ZoneInfo(name) if name else None

    @property
    def station(self) -> str:
        """This home's station id: CUSTODY_STATION, else [station] id; "" for none. One notion
        everywhere (batches, provenance, ledger entries, the archive key's registration);
        `custody ingest --station` overrides it for one command."""
        env = os.environ.get("CUSTODY_STATION")
        if env:
            return check_station_id(env, "CUSTODY_STATION")
        return self.section("station").get("id", "")

    def path_in_home(self, value: str, default: str) -> Path:
        return Path(value) if value else self.home / default


def _check(data: dict, file: str) -> None:
    for section, value in data.items():
        if section == "units":
            if not isinstance(value, dict):
                raise ConfigError(file, "units", Text("must be a table of unit tables"))
            for unit, rules in value.items():
                _check_unit(file, unit, rules)
            continue
        keys = _SCHEMA.get(section)
        if keys is None:
            raise ConfigError(file, section, Text("unknown section"))
        _check_table(file, section, value, keys)


def _check_unit(file: str, unit: str, rules: object) -> None:
    _check_table(file, f"units.{unit}", rules, _UNIT_KEYS)


def _check_table(file: str, where: str, table: object, keys: dict) -> None:
    """Every key known and of its type (a bool is not an int here)."""
    if not isinstance(table, dict):
        raise ConfigError(file, where, Text("must be a table"))
    for key, v in table.items():
        want = keys.get(key)
        if want is None:
            raise ConfigError(file, f"{where}.{key}", Text("unknown key"))
        if not isinstance(v, want) or (want is int and isinstance(v, bool)):
            raise ConfigError(file, f"{where}.{key}", Text(
                "must be {wanted}, not {given}", wanted=getattr(want, "__name__", want),
                given=type(v).__name__))


STATION_ID_MAX = 64


def check_station_id(value: str, where: str) -> str:
    """A station id as given (config, CUSTODY_STATION, --station): printed in reports and
    named in refusals, so one short word without spaces or control characters."""
    if len(value) > STATION_ID_MAX or any(c.isspace() or not c.isprintable() for c in value):
        raise InputError(N_("{where}: a station id is at most {limit} characters, without "
                            "spaces or control characters: {value!r}"), subject=where,
                         where=where, limit=STATION_ID_MAX, value=value)
    return value


def _check_whole(data: dict, file: str) -> None:
    """Contradictions visible only in the merged result."""
    try:
        check_station_id(data.get("station", {}).get("id", ""), "station.id")
    except InputError as exc:
        raise ConfigError(file, "station.id", exc.text) from exc
    _zone(file, "archive.zone", data["archive"].get("zone", ""))
    _language(file, data["archive"].get("language", "zh_CN"))
    _aql(file, data.get("verification", {}).get("aql", 0.0))
    cat = data["catalog"]
    if cat["backend"] not in ("sqlite", "mongodb"):
        raise ConfigError(file, "catalog.backend", Text("must be 'sqlite' or 'mongodb'"))
    if cat["backend"] == "mongodb" and not cat["uri"]:
        raise ConfigError(file, "catalog.uri", Text("the mongodb backend needs a uri"))
    st = data["store"]
    if st["backend"] not in ("local", "s3"):
        raise ConfigError(file, "store.backend", Text("must be 'local' or 's3'"))
    if st["backend"] == "s3" and not st["bucket"]:
        raise ConfigError(file, "store.bucket", Text("the s3 backend needs a bucket"))
    if st["part_size_mib"] < 5:
        raise ConfigError(file, "store.part_size_mib", Text("S3 parts are at least 5 MiB"))
    _check_replica(data, file)
    ing = data["ingest"]
    for key in ("workers", "chunk_mib", "max_recording_hours"):
        if ing[key] < 1:
            raise ConfigError(file, f"ingest.{key}", Text("must be at least 1"))
    if ing["chunk_mib"] > 64:
        raise ConfigError(file, "ingest.chunk_mib",
                          Text("at most 64 (memory is per file in flight)"))
    sc = data["scanner"]
    if sc["overlap_mib"] < 1 or sc["window_mib"] <= 2 * sc["overlap_mib"]:
        raise ConfigError(file, "scanner.overlap_mib", Text(
            "must be at least 1 and well under half of scanner.window_mib"))
    if sc["window_mib"] >= 2048:
        raise ConfigError(file, "scanner.window_mib",
                          Text("clamd cannot scan 2 GiB or more at once"))
    if sc["socket"] and sc["host"]:
        raise ConfigError(file, "scanner.host",
                          Text("give scanner.socket or scanner.host, not both"))
    hand = _month_day(file, "cycle.handover_by", data["cycle"]["handover_by"])
    done = _month_day(file, "cycle.archiving_by", data["cycle"]["archiving_by"])
    if done <= hand:
        raise ConfigError(file, "cycle.archiving_by",
                          Text("archiving must finish after the handover date"))
    if not 3 <= data["cycle"].get("item_number_digits", 5) <= 8:
        raise ConfigError(file, "cycle.item_number_digits", Text("must be 3 to 8"))
    ret = data["retention"]
    if ret["permanent_lock_years"] < MIN_HORIZON_YEARS:
        raise ConfigError(file, "retention.permanent_lock_years", Text(
            "a permanent record's lock reaches at least {years} years ahead",
            years=MIN_HORIZON_YEARS))
    if not 1 <= ret["renew_within_years"] < ret["permanent_lock_years"]:
        raise ConfigError(file, "retention.renew_within_years", Text(
            "must be at least 1 and less than retention.permanent_lock_years"))
    # the records kept for ever that are not items: renewed by the same window
    years = data["ledger"].get("checkpoint_retention_years")
    if years is not None and not (years >= MIN_HORIZON_YEARS
                                  and years > ret["renew_within_years"]):
        raise ConfigError(file, "ledger.checkpoint_retention_years", Text(
            "a record kept for ever is locked at least {years} years ahead, and more than "
            "retention.renew_within_years (leave it unset to use "
            "retention.permanent_lock_years)", years=MIN_HORIZON_YEARS))
    _check_watch(data["watch"], file)
    check_web(data["web"], file)
    disp = data["disposal"]
    if disp["appraisers"] < 2:
        raise ConfigError(file, "disposal.appraisers", Text("an appraisal group has at least two"))
    if disp["witnesses"] < 1:
        raise ConfigError(file, "disposal.witnesses", Text("destruction needs a witness (监销)"))
    for key in ("appraiser_role",):
        if disp[key] not in ROLES:
            raise ConfigError(file, f"disposal.{key}", Text("must be one of {choices}",
                                                             choices=ROLES))
    lists = [("report.required_activity_types", data["report"]["required_activity_types"])] + [
        (f"units.{u}.required_activity_types", r["required_activity_types"])
        for u, r in data.get("units", {}).items()
        if isinstance(r, dict) and "required_activity_types" in r]
    for key, types in lists:
        bad = [t for t in types if t not in ACTIVITY_TYPES]
        if bad:
            raise ConfigError(file, key, Text("not activity types: {given}",
                                              given=", ".join(map(str, bad))))
    for kind, mimes in data["formats"].items():
        if not mimes or not all(isinstance(m, str) and "/" in m for m in mimes):
            raise ConfigError(file, f"formats.{kind}",
                              Text("must be a non-empty list of MIME types"))
    for unit, r in data.get("units", {}).items():
        where = f"units.{unit}"
        for key in ("name", "routine_months", "evidence", "offload", "approver_role"):
            if key not in r:
                raise ConfigError(file, f"{where}.{key}", Text("missing"))
        _zone(file, f"{where}.zone", r.get("zone", ""))
        if r["routine_months"] < 6:
            raise ConfigError(file, f"{where}.routine_months",
                              Text("routine footage is kept at least 6 months"))
        if r["evidence"] not in EVIDENCE_RULES:
            raise ConfigError(file, f"{where}.evidence", Text("must be one of {choices}",
                                                              choices=EVIDENCE_RULES))
        if r["evidence"] == "long-term" and r.get("evidence_years", 0) <= 0:
            raise ConfigError(file, f"{where}.evidence_years",
                              Text("evidence 'long-term' needs a positive number of years"))
        if r["evidence"] != "long-term" and "evidence_years" in r:
            raise ConfigError(file, f"{where}.evidence_years", Text(
                "contradicts evidence = {evidence!r}", evidence=r["evidence"]))
        if r["offload"] not in OFFLOAD_RULES:
            raise ConfigError(file, f"{where}.offload", Text("must be one of {choices}",
                                                             choices=OFFLOAD_RULES))
        if r.get("confirm_role", "approver") not in ROLES:
            raise ConfigError(file, f"{where}.confirm_role", Text("must be one of {choices}",
                                                                  choices=ROLES))
        if r["approver_role"] not in APPROVER_ROLES:
            raise ConfigError(file, f"{where}.approver_role", Text(
                "must be one of {choices}", choices=APPROVER_ROLES))
        for ctype, years in r.get("case_periods", {}).items():
            if not isinstance(years, int) or isinstance(years, bool) or years < 0:
                raise ConfigError(file, f"{where}.case_periods.{ctype}",
                                  Text("must be a whole number of years (0 = permanent)"))


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    import ipaddress

    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_web(w: dict, file: str) -> None:
    """custody web: WebAuthn needs a host name as RP ID and an origin on it; beyond loopback
    only HTTPS. Also what ``custody web --bind/--port`` give is checked here."""
    from urllib.parse import urlsplit

    rp_id = w["rp_id"]
    if not rp_id or _is_ip(rp_id) or "/" in rp_id or ":" in rp_id:
        raise ConfigError(file, "web.rp_id", Text(
            "'{value}' is not a host name: WebAuthn needs one (on the intranet a DNS name "
            "with a certificate from the bureau's CA), never an IP address", value=rp_id))
    if not 1 <= w["port"] <= 65535:
        raise ConfigError(file, "web.port", Text("must be 1 to 65535"))
    if bool(w["cert"]) != bool(w["key"]):
        raise ConfigError(file, "web.key", Text("give both web.cert and web.key, or neither"))
    if not is_loopback(w["bind"]) and not (w["cert"] and w["key"]):
        raise ConfigError(file, "web.bind", Text(
            "binding to {bind} (beyond loopback) needs HTTPS: set web.cert and web.key",
            bind=w["bind"]))
    if w["origin"]:
        parts = urlsplit(w["origin"])
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or parts.path not in ("", "/") or \
                not (host == rp_id or host.endswith("." + rp_id)):
            raise ConfigError(file, "web.origin", Text(
                "'{value}' is not an https:// origin on the RP ID {rp_id}",
                value=w["origin"], rp_id=rp_id))
        if parts.scheme == "http" and host != "localhost":
            raise ConfigError(file, "web.origin", Text(
                "plain http is only for http://localhost; use https://"))
    elif not w["cert"] and rp_id != "localhost":
        raise ConfigError(file, "web.origin", Text(
            "without web.cert the console is http://localhost only; give web.cert, web.key "
            "and web.origin to serve {rp_id}", rp_id=rp_id))
    for key in ("session_idle_minutes", "session_hours", "sign_in_failures_per_minute",
                "threads", "download_hours"):
        if w[key] < 1:
            raise ConfigError(file, f"web.{key}", Text("must be at least 1"))
    if w["session_idle_minutes"] > w["session_hours"] * 60:
        raise ConfigError(file, "web.session_idle_minutes",
                          Text("must not exceed web.session_hours"))


def _check_watch(w: dict, file: str) -> None:
    """custody watch: a marker beside the folder, waits that make sense, manifest names."""
    if w["settle_s"] < 0:
        raise ConfigError(file, "watch.settle_s", Text("must be 0 or more"))
    if w["poll_s"] < 1:
        raise ConfigError(file, "watch.poll_s", Text("must be at least 1"))
    if not 1 <= w["retry_s"] <= w["retry_max_s"]:
        raise ConfigError(file, "watch.retry_s", Text("must be at least 1 and at most "
                          "watch.retry_max_s"))
    if w["require_marker"] and not w["marker"]:
        raise ConfigError(file, "watch.require_marker", Text("needs a watch.marker"))
    if "/" in w["marker"] or w["marker"] in (".", ".."):
        raise ConfigError(file, "watch.marker",
                          Text("a suffix of a name beside the folder, no '/'"))
    if not all(isinstance(m, str) and m and "/" not in m for m in w["manifests"]):
        raise ConfigError(file, "watch.manifests", Text("must be file names (no '/')"))


def _check_replica(data: dict, file: str) -> None:
    """The second copy: another WORM store, never the primary itself."""
    rep, st = data["replica"], data["store"]
    if rep["backend"] not in ("", "local", "s3"):
        raise ConfigError(file, "replica.backend", Text("must be '' (none), 'local' or 's3'"))
    if not rep["backend"]:
        if rep["write_on_ingest"]:
            raise ConfigError(file, "replica.write_on_ingest", Text("needs a replica.backend"))
        return
    if rep["backend"] == "local" and not rep["path"]:
        raise ConfigError(file, "replica.path", Text("the local replica needs its own directory "
                          "(on another disk)"))
    if rep["backend"] == "s3" and not rep["bucket"]:
        raise ConfigError(file, "replica.bucket", Text("the s3 backend needs a bucket"))
    if rep["part_size_mib"] < 5:
        raise ConfigError(file, "replica.part_size_mib", Text("S3 parts are at least 5 MiB"))
    if rep["backend"] == st["backend"] == "local":
        mine = os.path.realpath(os.path.expanduser(rep["path"]))
        primary = os.path.realpath(os.path.expanduser(st["path"])) if st["path"] else ""
        if mine == primary:
            raise ConfigError(file, "replica.path", Text("is the primary store: a second copy "
                              "must be another store"))
    if (rep["backend"] == st["backend"] == "s3" and rep["bucket"] == st["bucket"]
            and (rep["endpoint_url"] or "") == (st["endpoint_url"] or "")):
        raise ConfigError(file, "replica.bucket", Text("is the primary store's bucket: a second "
                          "copy must be another bucket or service"))


def _read(path: Path) -> dict:
    from archive.inputs import read_input

    if not path.exists() and not path.is_symlink():
        raise ConfigError(str(path), "-", Text("file not found"))
    try:
        data = read_input(path, Text("config"), limit=4 << 20)
    except InputError as exc:  # missing, a FIFO or a directory: refused without reading
        raise ConfigError(str(path), "-", exc.text) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "-", Text("not UTF-8: {reason}", reason=str(exc))) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", Text("not valid TOML: {reason}",
                                               reason=str(exc))) from exc


def _default_horizon(data: dict) -> None:
    """One horizon for everything kept for ever: the records that are not items are locked as
    far ahead as a permanent item unless ``[ledger] checkpoint_retention_years`` says else."""
    ledger = data.setdefault("ledger", {})
    ledger.setdefault("checkpoint_retention_years", data["retention"]["permanent_lock_years"])


def load(user_file: str | os.PathLike | None = None, home: Path | None = None) -> Settings:
    """The default policy, overridden by ``user_file`` (or $CUSTODY_CONFIG), checked."""
    default_text = resources.files("config").joinpath("default.toml").read_text("utf-8")
    data = tomllib.loads(default_text)
    _check(data, DEFAULT_NAME)
    files = [DEFAULT_NAME]
    chosen = user_file or os.environ.get("CUSTODY_CONFIG")
    if chosen:
        path = Path(chosen)
        user = _read(path)
        _check(user, str(path))
        data = _merge(data, user)
        files.append(str(path))
    _check_whole(data, files[-1])
    _default_horizon(data)
    return Settings(data=data, home=home or default_home(), files=tuple(files))
