"""Catalog benchmark: insert rate, officer/time search, party/cause substring search, counts.

    python benchmarks/catalog_bench.py [--items N] [--backend sqlite|mongomock|mongodb|wire]
                                       [--dir DIR] [--json]

Prints figures next to their goals; asserts nothing (timing belongs in no test). The data set
is synthetic but shaped like a bureau's archive: ~30 units, ~3000 officers, ~2000 devices,
three years of recordings, ~200k distinct parties (persons and companies), ~80 causes.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script from anywhere: the repository root holds the ``archive`` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive.catalog.base import Catalog, Query  # noqa: E402
from archive.copies.rebuild import BATCH as REBUILD_BATCH  # noqa: E402
from archive.domain.errors import CustodyError  # noqa: E402
from archive.domain.ids import uuid7  # noqa: E402
from archive.domain.model import (  # noqa: E402
    ACTIVITY_TYPES,
    Description,
    Digests,
    Item,
    Lock,
    MetadataVersion,
    ObjectRecord,
    StoredVersion,
)

SEED = 20260301

SPAN_START = datetime(2023, 3, 1, tzinfo=UTC)
SPAN_DAYS = 3 * 365

GOALS = {  # figure -> (goal, "min" when higher is better / "max" when lower is better)
    "insert_items_per_s": (10_000, "min"),
    "officer_week_p95_ms": (5.0, "max"),
    "substring_p95_ms": (20.0, "max"),
    "count_by_tier_ms": (100.0, "max"),
}

DEFAULT_ITEMS = {"sqlite": 1_000_000, "mongomock": 100_000, "mongodb": 1_000_000,
                 "wire": 100_000}
# mongomock scans on every insert with a unique index (DESIGN.md): stop inserting after this
# many seconds and measure the queries at the size reached, rather than run for hours. The
# wire server (mongoeco) slows as its collection grows: a batch of 1,000 items took 7 s into
# an empty catalog and 27 s at 5,000 items, 48 s at 9,000 (2026-12-03), so 100,000 items
# would take some 6 hours of inserts.
DEFAULT_INSERT_BUDGET_S = {"sqlite": None, "mongomock": 180.0, "mongodb": None, "wire": 900.0}
# SQLite: the batch a catalog rebuild writes (archive/copies/rebuild.py); ingest writes one
# item at a time, at the pace of scanning and storing files, not of the catalog
DEFAULT_BATCH = {"sqlite": REBUILD_BATCH, "mongomock": 1_000, "mongodb": 10_000, "wire": 1_000}

# --- name pools ------------------------------------------------------------------------------
# Common surnames, most frequent first, so a skewed draw gives many 王, 李, 张 as in life.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程"
    "魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾"
    "龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方")
GIVEN_CHARS = (
    "五六伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华平刚桂兰霞玉萍建国红梅鹏辉飞宇浩然子轩"
    "梓涵一诺欣怡晨阳雨佳琪思远文博志强海燕春花秋菊冬梅小龙凤云峰林森宁安康健福贵荣昌盛"
    "德才兴旺金银宝珠丹彤婷雪倩颖慧琳璐瑶嘉俊晓东南北成功立新永胜利民振华世杰家豪天佑"
)
CITIES = (
    "北京", "上海", "广州", "深圳", "杭州", "南京", "武汉", "成都", "重庆", "西安", "苏州",
    "天津", "长沙", "郑州", "青岛", "合肥", "宁波", "东莞", "佛山", "无锡", "厦门", "福州",
    "济南", "昆明", "南宁", "贵阳", "南昌", "太原", "石家庄", "哈尔滨", "长春", "沈阳", "大连",
    "兰州", "海口", "温州", "泉州", "徐州", "常州", "嘉兴",
)
COMPANY_WORDS = (
    "华信", "恒通", "鑫源", "宏达", "金盛", "永利", "兴隆", "瑞丰", "天成", "博远", "中和",
    "嘉禾", "新元", "汇通", "顺发", "盛世", "聚福", "东方", "远洋", "正大", "明辉", "安泰",
    "富民", "德润", "广源", "万家", "海纳", "益民", "华润", "腾达", "利民", "祥和", "春晖",
    "百川", "同心", "卓越", "诚信", "宏图", "锦程", "凯旋", "隆昌", "鼎盛", "合众", "众鑫",
    "长青", "银河", "星辰", "绿洲", "佳美", "乐家", "福满", "金源", "益康", "和美", "丰泽",
    "高科", "新华", "大地", "亿达", "创新", "精诚", "振兴", "鸿运", "华美", "融通", "润泽",
    "泰和", "金鹏", "华安", "联创", "宝丰", "启航", "智联", "蓝天", "恒信", "天利", "金桥",
    "荣达", "昌隆", "盈科", "伟业", "晟达", "尚品", "美佳", "优品", "康泰", "佳和", "广和",
    "信达", "和信", "金茂", "悦来", "凤凰", "紫金", "银丰", "盛源", "协和", "华夏", "环宇",
    "天和", "中兴", "通达", "安达", "永盛", "德丰", "富源", "鑫盛", "宏昌", "新世纪", "好运来",
    "汇丰", "隆盛", "金地", "泰丰", "万通",
)
INDUSTRIES = (
    "科技", "商贸", "餐饮管理", "建筑工程", "物流", "房地产开发", "食品", "环保科技",
    "装饰工程", "汽车服务", "贸易", "电子", "网络科技", "文化传媒", "医药", "农业开发",
    "机械设备", "建材", "服装", "家具", "化工", "印刷", "酒店管理", "物业管理", "广告",
    "劳务", "运输", "超市", "五金", "电器", "水产", "果蔬", "石材", "塑料制品", "包装",
    "信息技术", "教育咨询", "健康管理", "再生资源", "燃气",
)
SHOPS = ("五金店", "超市", "饭店", "便利店", "烟酒店", "小吃店", "理发店", "修车铺", "水果店")
CAUSES = (
    "占道经营", "违法建设", "无证经营", "无照经营", "擅自设置户外广告", "乱倒建筑垃圾",
    "噪声扰民", "违规排放污水", "未按规定分类投放生活垃圾", "销售过期食品",
    "生产销售不符合安全标准的食品", "虚假广告", "价格欺诈", "销售假冒伪劣商品",
    "擅自占用城市道路", "擅自砍伐城市树木", "未取得建设工程规划许可证进行建设",
    "非法运输危险化学品", "超限运输", "非法营运", "违规停车", "未办理环境影响评价手续",
    "超标排放大气污染物", "露天焚烧垃圾", "非法采砂", "非法占用耕地", "违法用地", "非法捕捞",
    "违规使用农药", "销售假种子", "非法行医", "药品经营不规范", "未按规定明码标价",
    "堵塞消防通道", "损坏消防设施", "违规动火作业", "安全生产隐患逾期未整改",
    "未按规定配备安全生产管理人员", "无证驾驶", "渣土车辆带泥上路", "沿街晾晒",
    "店外经营", "违规设置招牌", "擅自挖掘城市道路", "损坏市政设施", "违规养犬",
    "食品经营许可证过期", "从业人员无健康证明", "使用不合格计量器具", "商标侵权",
    "销售未经检验的肉品", "私屠滥宰", "违规收购生猪", "非法经营烟草制品", "销售假酒",
    "出租房屋未登记", "违规群租", "违规排放油烟", "夜间施工噪声", "扬尘污染",
    "未按规定处置危险废物", "非法倾倒工业固体废物", "违规储存易燃易爆物品",
    "违反网络交易管理规定", "拒不配合检查", "阻碍执法", "未按规定公示营业执照",
    "擅自改变房屋用途", "违规装修", "破坏绿地", "违规采伐林木", "非法狩猎",
    "未经批准临时占用林地", "偷排偷放", "违规使用燃气", "违规销售电动自行车",
    "校园周边违规经营", "违规发布房地产广告", "拖欠农民工工资", "违规招用未成年人",
    "未签订劳动合同",
)
KINDS = (("video", 70), ("audio", 10), ("photo", 12), ("document", 6), ("data", 2))
ACTIVITY_WEIGHTS = {"日常巡查": 40, "调查取证": 14, "询问": 8, "送达": 6, "听证": 1,
                    "行政强制": 3, "现场勘验": 5, "先行登记保存": 2, "扣押": 3, "查封": 2,
                    "强制拆除": 2, "罚没": 2, "投诉处置": 10, "其他": 2}
EXT = {"video": "MP4", "audio": "WAV", "photo": "JPG", "document": "PDF", "data": "ZIP"}
TIERS = (("routine", 90), ("case", 8), ("permanent", 2))
KEY_ID = "ed25519:2a49dd8ef88265c7a4c2050cb2a8adcf094f026da2bbfdf2889bd9e3fd22296b"
MIME = {"video": ("video/mp4", "MPEG-4", ["AVC", "AAC"]), "audio": ("audio/x-wav", "WAVE", ["PCM"]),
        "photo": ("image/jpeg", "JPEG", []), "document": ("application/pdf", "PDF", []),
        "data": ("application/zip", "ZIP", [])}


# --- the world the items are drawn from -------------------------------------------------------
@dataclass
class World:
    units: list[str]
    officers: list[list[str]]  # by unit
    devices: list[list[str]]   # by unit
    persons: list[str]
    companies: list[str]
    parties: list[str]         # persons and companies shuffled: one pool of distinct names
    location: str = "/srv/custody/worm"


def person_names(rng: random.Random, n: int) -> list[str]:
    names: dict[str, None] = {"王五": None, "张三": None, "李四": None}  # the classic two-char
    while len(names) < n:
        r = rng.random()
        # Skew toward the common surnames: squaring a uniform draw favours the front.
        s = (COMPOUND_SURNAMES[rng.randrange(len(COMPOUND_SURNAMES))] if r < 0.01
             else SURNAMES[int(len(SURNAMES) * rng.random() ** 2)])
        given = rng.choice(GIVEN_CHARS)
        if rng.random() < 0.75:
            given += rng.choice(GIVEN_CHARS)
        names[s + given] = None
    return list(names)


def company_names(rng: random.Random, n: int) -> list[str]:
    names: dict[str, None] = {}
    while len(names) < n:
        word = rng.choice(COMPANY_WORDS)
        if rng.random() < 0.1:  # individual businesses: 鑫源五金店 (and so 王五 in 王五金店)
            names[rng.choice(SURNAMES) + rng.choice(GIVEN_CHARS) + rng.choice(SHOPS)
                  if rng.random() < 0.3 else word + rng.choice(SHOPS)] = None
        else:
            names[f"{rng.choice(CITIES)}{word}{rng.choice(INDUSTRIES)}有限公司"] = None
    return list(names)


def build_world(rng: random.Random, parties: int) -> World:
    units = [f"unit-{u:03d}" for u in range(30)]
    officers: list[list[str]] = [[] for _ in units]
    for o in range(3000):
        officers[o % len(units)].append(f"P{o:05d}")
    devices: list[list[str]] = [[] for _ in units]
    for d in range(2000):
        devices[d % len(units)].append(f"DSJ-{d:05d}")
    persons = person_names(rng, int(parties * 0.7))
    companies = company_names(rng, parties - len(persons))
    pool = persons + companies
    rng.shuffle(pool)
    return World(units, officers, devices, persons, companies, pool)


def _signature(rng: random.Random) -> str:
    """A base64 Ed25519 signature's size and randomness (compression sees real entropy)."""
    return base64.b64encode(rng.randbytes(64)).decode()


def object_of(item: Item) -> ObjectRecord:
    """The object record ingest writes beside the item (one per distinct file)."""
    o = item.storage["object"]
    lk = o["lock"]
    lock = Lock(lk["mode"], item.retain_until, lk["legal_hold"], lk["protection"])
    return ObjectRecord(item.current.digests,
                        StoredVersion(o["backend"], o["location"], o["key"], o["version_id"],
                                      o["size"], lock), item.ingested_at)


def _z(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def real_item(rng: random.Random, item_id: str, version: MetadataVersion, kind: str,
              tier: str, ingested: datetime, offloaded: datetime, start: datetime,
              end: datetime, location: str) -> Item:
    """An item with the state ingest really writes: the checks, events and storage of a demo
    item (``custody demo``, measured: record about 5.4 KB, checks 2.1-2.7 KB, events 0.9 KB,
    storage 0.7 KB, current version 1.1-1.2 KB), with this item's own digests, times and ids
    so that their randomness is what compression meets."""
    d, dg = version.description, version.digests
    sha, sm3, size = dg.sha256, dg.sm3, dg.size
    mime, container, codecs = MIME[kind]
    agent = version.created_by
    # as the retention run leaves them: routine six months, a case's ten years, permanent
    # items locked 50 years ahead (renewed ten years before the end)
    retain = ingested + timedelta(days={"routine": 183, "case": 3653, "permanent": 18262}[tier])
    scan = f"custody signatures sha256:{rng.getrandbits(64):016x}"
    name = d.source["original_name"]
    av = kind in ("video", "audio")
    duration = round((end - start).total_seconds(), 3)
    lock = {"legal_hold": tier == "permanent", "mode": "LOCAL-WORM",
            "protection": {"immutable_attribute": True, "read_only_mode": True,
                           "retention_enforced_by": "custody (sidecar)"},
            "retain_until": _z(retain)}
    four = [
        ("digests (SHA-256, SM3)", sha, "authenticity"),
        ("metadata signed (Ed25519)", True, "authenticity"),
        ("source recorded", name, "authenticity"),
        ("time consistency", "pass", "authenticity"),
        ("required metadata", "complete", "integrity"), ("size", size, "integrity"),
        ("not truncated", True, "integrity"),
        ("device sequence", d.extra["sequence"], "integrity"),
        ("format allowed", mime, "usability"), ("readable", "ok", "usability"),
        ("not encrypted", True, "usability"),
        ("virus scan", f"clean (ClamAV 1.4.6 {scan}, INSTREAM)", "security"),
        ("WORM lock confirmed", _z(retain), "security")]
    checks: dict = {
        "deadline": {"due": (offloaded + timedelta(days=1)).date().isoformat()
                     + "T00:00:00+08:00", "late": False, "offloaded_at": offloaded.isoformat(),
                     "result": "pass", "rule": "same day"},
        "format": {"codecs": codecs, "container": container,
                   "creation_time": f"{start:%Y-%m-%d %H:%M:%S} UTC",
                   "creation_time_utc": True, "damaged": False,
                   "description": f"{container} media, {mime}", "duration_s": duration,
                   "encrypted": False, "extension": name.rsplit(".", 1)[-1].lower(),
                   "extension_matches": True, "kind_allowed": True, "mime": mime,
                   "problems": [], "truncated": False},
        "four_property": [{"check": c, "observed": o, "property": p, "result": "pass"}
                          for c, o, p in four],
        "virus": {"database": scan, "engine": "ClamAV 1.4.6", "method": "INSTREAM",
                  "reason": None, "signature": None, "status": "clean", "windows": 1}}
    if av:
        checks["consistency"] = {"clock_offset_s": round(rng.uniform(-3, 3), 1),
                                 "duration_difference_s": 0.0, "media_start": start.isoformat(),
                                 "result": "pass"}
        checks["written_record"] = {"recorded": [start.isoformat(), end.isoformat()],
                                    "result": "pass", "written_record": [
                                        start.isoformat(), end.isoformat()]}
    at = ingested
    events = [{"agent": agent, "at": _z(at), "outcome": "success", "sha256": sha, "size": size,
               "sm3": sm3, "type": "message digest calculation"},
              {"agent": agent, "at": _z(at), "outcome": "success", "type": "ingestion"},
              {"agent": agent, "at": _z(at), "method": "INSTREAM", "outcome": "clean",
               "type": "virus check"},
              {"agent": agent, "at": _z(at), "mime": mime, "outcome": "success",
               "type": "format identification"},
              {"agent": agent, "at": _z(at + timedelta(seconds=1)), "outcome": "success",
               "type": "WORM storage", "key": f"objects/{sha[:2]}/{sha}", "mode": "LOCAL-WORM",
               "retain_until": _z(retain)}]
    key = f"objects/{sha[:2]}/{sha}"
    storage = {"ledger_seq": rng.randrange(1, 10_000_000),
               "manifests": [{"key": f"{key}.meta/{item_id}/v0001.json", "version": 1,
                              "version_id": uuid7(int(ingested.timestamp() * 1000))}],
               "object": {"backend": "local", "key": key, "location": location, "lock": lock,
                          "size": size,
                          "version_id": uuid7(int(ingested.timestamp() * 1000))}}
    return Item(id=item_id, sha256=sha, current=version, ingested_at=ingested, tier=tier,
                retain_until=retain, legal_hold=tier == "permanent", storage=storage,
                checks=checks, events=events,
                dedupe=f"{sha}:{rng.getrandbits(128):032x}")


class ItemFactory:
    """Makes items in recording order, a batch at a time, so memory stays at one batch.

    Items come in activities of 1-4 (interrupted segments or several cameras) sharing unit,
    officers, party, cause and type, as ingest sees them.
    """

    def __init__(self, world: World, total: int, seed: int, order: str = "time") -> None:
        self.w = world
        self.total = total
        self.order = order
        self.rng = random.Random(seed)
        self.made = 0
        self.kinds = [k for k, n in KINDS for _ in range(n)]
        self.prototypes = {k: Description(kind=k) for k, _ in KINDS}  # record form per kind
        self.tiers = [t for t, n in TIERS for _ in range(n)]
        self.activity_types = [a for a, n in ACTIVITY_WEIGHTS.items() for _ in range(n)]
        assert set(ACTIVITY_WEIGHTS) == set(ACTIVITY_TYPES)
        self.parties_used: set[str] = set()
        self.party_sample: list[str] = []  # reservoir of names that occur in the data
        self.cause_sample: list[str] = []
        self._pending: list[Item] = []

    def _draw_party(self) -> str:
        # Mildly skewed: some parties recur often (a market stall), most a few times.
        p = self.w.parties[int(len(self.w.parties) * self.rng.random() ** 1.3)]
        self.parties_used.add(p)
        return p

    def _sample(self, bag: list[str], value: str, k: int = 4000) -> None:
        # Reservoir sampling, so query names are drawn uniformly from the items themselves.
        n = self.made
        if len(bag) < k:
            bag.append(value)
        else:
            j = self.rng.randrange(n + 1)
            if j < k:
                bag[j] = value

    def _activity(self) -> list[Item]:
        rng, w = self.rng, self.w
        u = rng.randrange(len(w.units))
        unit_officers = w.officers[u]
        officers = rng.sample(unit_officers, 2 if rng.random() < 0.7 else 1)
        assisting = [rng.choice(unit_officers)] if rng.random() < 0.1 else []
        atype = rng.choice(self.activity_types)
        patrol = atype == "日常巡查"
        party = None if patrol and rng.random() < 0.6 else self._draw_party()
        cause = None if patrol and rng.random() < 0.7 else rng.choice(CAUSES)
        tier = rng.choice(self.tiers)
        case_id = (f"C{rng.randrange(2023, 2026)}-{u:02d}-{rng.randrange(20000):05d}"
                   if tier != "routine" or rng.random() < 0.05 else None)
        # In time order the day advances with the item count, as an archive fills; in random
        # order any day comes next, as when a catalog is rebuilt from WORM manifests.
        day = (self.made * SPAN_DAYS // self.total if self.order == "time"
               else rng.randrange(SPAN_DAYS))
        # 08:00-20:00 Beijing time is 00:00-12:00 UTC.
        start = SPAN_START + timedelta(days=day, seconds=rng.randrange(12 * 3600))
        activity_id = uuid7(int(start.timestamp() * 1000))
        device = rng.choice(w.devices[u])
        n = min(1 if rng.random() < 0.6 else rng.randint(2, 4), self.total - self.made)
        segments = rng.random() < 0.5  # segments of one camera, else several cameras at once
        out = []
        for _ in range(n):
            kind = rng.choice(self.kinds)
            if kind in ("photo", "document", "data"):
                minutes = 0.0
            elif rng.random() < 0.002:
                minutes = rng.uniform(60, 240)  # the rare long one; the longest is 4 h
            else:
                minutes = min(60.0, 1 + rng.expovariate(1 / 12))
            end = start + timedelta(minutes=minutes)
            offloaded = end + timedelta(hours=rng.uniform(0.5, 10))
            ingested = offloaded + timedelta(minutes=rng.uniform(1, 30))
            item_id = uuid7(int(ingested.timestamp() * 1000))
            sha = f"{rng.getrandbits(256):064x}"
            # A copy of a validated prototype: Description() validates (and now serialises
            # itself to check its text) at ~100 us an item, which would make generation as
            # slow as the inserts it feeds; every value set here is valid by construction.
            desc = copy.copy(self.prototypes[kind])
            desc.__dict__.update(
                unit=w.units[u], device_id=None if kind == "document" else device,
                officers=list(officers), assisting=list(assisting), recorded_start=start,
                recorded_end=end, offloaded_at=offloaded, party=party, cause=cause,
                case_id=case_id, activity_id=activity_id, activity_type=atype,
                source={"name": f"{device}_{start:%Y%m%d%H%M%S}.{EXT[kind]}",
                        "station": f"WS-{u:02d}", "batch": f"{offloaded:%Y%m%d}-{u:02d}"})
            sm3 = f"{rng.getrandbits(256):064x}"
            size = rng.randrange(1 << 20, 1 << 31)
            desc.__dict__.update(record_form="音像记录" if kind in ("video", "audio") else None,
                                 extra={"sequence": rng.randrange(1, 9999)})
            source = desc.source
            source.update(original_name=f"{device}/{source.pop('name')}",
                          manifest_line=rng.randrange(1, 500))
            version = MetadataVersion(
                item_id=item_id, version=1, description=desc,
                digests=Digests(size, sha, sm3), created_at=ingested,
                created_by=rng.choice(unit_officers), reason="ingest", key_id=KEY_ID,
                signature=_signature(rng))
            item = real_item(rng, item_id, version, kind, tier, ingested, offloaded, start,
                             end, w.location)
            out.append(item)
            if party:
                self._sample(self.party_sample, party)
            if cause:
                self._sample(self.cause_sample, cause)
            self.made += 1
            if segments:
                start = end + timedelta(seconds=rng.randrange(5, 300))
        return out

    def batch(self, size: int) -> list[Item]:
        items = self._pending
        while len(items) < size and self.made < self.total:
            items += self._activity()
        items, self._pending = items[:size], items[size:]
        return items

    def exhausted(self) -> bool:
        return self.made >= self.total and not self._pending


# --- backends ---------------------------------------------------------------------------------
@dataclass
class Backend:
    catalog: Catalog
    cleanup: Callable[[], None]
    where: str
    size: Callable[[], int | None] = lambda: None
    breakdown: Callable[[], list[tuple[str, int]]] = lambda: []


# where the bytes go: SQLite's pages by table and index, grouped as the issue asks
SQLITE_PARTS = (
    ("items: record and columns", ("items",)),
    ("objects", ("objects",)),
    ("versions (earlier ones)", ("item_versions", "sqlite_autoindex_item_versions_1")),
    ("officer rows", ("item_officers", "item_officers_item")),
    ("case rows", ("item_cases", "item_cases_item")),
    ("party/cause terms and bigram rows", ("terms", "term_grams", "gram_counts",
                                          "sqlite_autoindex_terms_1")),
)


def sqlite_breakdown(db: sqlite3.Connection) -> list[tuple[str, int]]:
    """Bytes per part after a checkpoint: the tables, then each index of items by name."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    out = []
    for title, names in SQLITE_PARTS:
        out.append((title, sum(pages.pop(n, 0) for n in names)))
    index_names = {n for (n,) in db.execute(
        "SELECT name FROM sqlite_master WHERE tbl_name='items' AND type='index'")}
    for name in sorted(index_names, key=lambda n: -pages.get(n, 0)):
        if name in pages:
            out.append((f"index {name}", pages.pop(name)))
    out.append(("the rest (ledger, records, counts, schema)", sum(pages.values())))
    return out


def open_backend(name: str, directory: str | None, keep: bool) -> Backend:
    if name == "sqlite":
        from archive.catalog.sqlite import SQLiteCatalog

        root = tempfile.mkdtemp(prefix="custody-bench-", dir=directory)
        path = Path(root) / "catalog.sqlite"
        cat = SQLiteCatalog(path)

        def size() -> int:
            return sum(p.stat().st_size for p in Path(root).iterdir())

        def cleanup() -> None:
            cat.close()
            if not keep:
                shutil.rmtree(root, ignore_errors=True)

        return Backend(cat, cleanup, str(path), size, lambda: sqlite_breakdown(cat.db))

    try:
        from archive.catalog.mongo import MongoCatalog, strip_credentials  # may not exist yet
    except ImportError as exc:
        raise SystemExit(f"backend {name!r}: archive.catalog.mongo.MongoCatalog is not "
                         f"available yet ({exc}); only --backend sqlite can run") from exc
    db_name = f"custody_bench_{os.getpid()}"
    server = None
    if name == "mongomock":
        import mongomock

        client: Any = mongomock.MongoClient()
        where = "mongomock (in memory)"
    elif name == "wire":
        # mongoeco over the wire protocol, as the tests start it (tests/support/wire.py): a
        # comparison only, it is not MongoDB
        import pymongo

        from tests.support.wire import WireServer, available

        if available() is not None:
            raise SystemExit(f"backend 'wire': {available()}")
        server = WireServer()
        server.start()
        # The server answers nothing while it inserts a batch (one Python thread): with the
        # default 20 s the client's monitor gave it up after 9,000 items and cancelled the
        # insert under way ("operation cancelled"). Allow it minutes.
        client = pymongo.MongoClient(server.uri, tz_aware=True, connectTimeoutMS=600_000,
                                     serverSelectionTimeoutMS=600_000)
        where = f"mongoeco wire server {server.uri} (.venv-wire) database {db_name}"
    else:
        uri = os.environ.get("CUSTODY_TEST_MONGODB_URI")
        if not uri:
            raise SystemExit("backend 'mongodb' needs CUSTODY_TEST_MONGODB_URI "
                             "(e.g. mongodb://localhost:27017/?replicaSet=rs0)")
        import pymongo

        client = pymongo.MongoClient(uri)
        where = f"{strip_credentials(uri)} database {db_name}"
    cat = MongoCatalog(client, database=db_name)

    def cleanup_mongo() -> None:
        if not keep:
            client.drop_database(db_name)
        cat.close()
        client.close()
        if server is not None:
            server.stop()

    def size_mongo() -> int | None:
        try:
            return int(client[db_name].command("dbstats")["storageSize"])
        except Exception:  # mongomock has no dbstats; the size is only informative
            return None

    return Backend(cat, cleanup_mongo, where, size_mongo)


# --- measuring --------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile: with 200 samples p95 is the 190th, a real observation."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))]


@dataclass
class Series:
    name: str
    times_ms: list[float] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        if not self.times_ms:
            return {"n": 0}
        worst = sorted(zip(self.times_ms, self.labels, self.hits, strict=True),
                       reverse=True)[:5]
        return {"n": len(self.times_ms), "p50_ms": pct(self.times_ms, 50),
                "p95_ms": pct(self.times_ms, 95), "max_ms": max(self.times_ms),
                "mean_hits": statistics.fmean(self.hits),
                "slowest": [{"query": q, "ms": round(t, 2), "hits": h} for t, q, h in worst]}


def run_queries(cat: Catalog, name: str, queries: list[tuple[str, Query]],
                budget_s: float | None) -> Series:
    s = Series(name)
    began = time.perf_counter()
    for label, q in queries:
        t = time.perf_counter()
        page = cat.search(q, limit=50)
        s.times_ms.append((time.perf_counter() - t) * 1000)
        s.hits.append(len(page.items))
        s.labels.append(label)
        if budget_s is not None and time.perf_counter() - began > budget_s and len(s.hits) >= 20:
            break
    return s


def substrings(rng: random.Random, names: list[str], length: int, n: int) -> list[str]:
    """``n`` substrings of ``length`` characters, each from a different random name where
    there are enough names (parties); the ~80 causes are drawn from again."""
    distinct = [x for x in dict.fromkeys(names) if len(x) >= length]
    rng.shuffle(distinct)
    picked = distinct[:n]
    while len(picked) < n:
        picked.append(rng.choice(distinct))
    out = []
    for name in picked:
        i = rng.randrange(len(name) - length + 1)
        out.append(name[i:i + length])
    return out


def officer_queries(rng: random.Random, world: World, n: int) -> list[tuple[str, Query]]:
    everyone = [o for unit in world.officers for o in unit]
    out = []
    for _ in range(n):
        officer = rng.choice(everyone)
        start = SPAN_START + timedelta(seconds=rng.randrange((SPAN_DAYS - 7) * 86400))
        end = start + timedelta(days=7)
        out.append((f"{officer} {start:%Y-%m-%d}+7d", Query(officer=officer, start=start,
                                                             end=end)))
    return out


def record_parts(items: list[Item]) -> dict[str, float]:
    """Mean JSON bytes of a record's parts (before the catalog packs it)."""
    if not items:
        return {}
    out: dict[str, float] = {}
    for item in items:
        rec = item.to_record()
        whole = len(json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode())
        out["record"] = out.get("record", 0) + whole / len(items)
        for part in ("checks", "events", "current", "storage"):
            n = len(json.dumps(rec[part], ensure_ascii=False, separators=(",", ":")).encode())
            out[part] = out.get(part, 0) + n / len(items)
    return out


def _timed(fn: Callable[[], int]) -> dict:
    t = time.perf_counter()
    n = fn()
    return {"s": time.perf_counter() - t, "items": n}


def runs(cat: Catalog, args: argparse.Namespace) -> dict:
    """The periodic runs' traversals, timed at this size: what each reads, full and
    incremental, with nothing changed and after 1% of the items changed. The retention run's
    and the check's reads of the store (locks) are not part of it: there is no store here."""
    from types import SimpleNamespace

    from archive.domain.model import iso
    from config import settings as config
    from reports.statistics import year_report
    from retention.engine import RetentionEngine

    home = Path(tempfile.mkdtemp(prefix="custody-bench-home-"))
    settings = config.load(None, home)
    now = SPAN_START + timedelta(days=SPAN_DAYS)  # the day after the last recording
    engine = RetentionEngine(SimpleNamespace(catalog=cat, store=None), settings,
                             clock=lambda: now)
    soon = now + timedelta(days=engine.expiring_days)
    year = (now - timedelta(days=200)).year  # the last whole year of recordings
    out: dict[str, Any] = {"as_of": iso(now), "statistics_year": year}

    def retention(cursor: dict | None) -> int:
        items, _ = engine.run_items(cursor, now, soon, cursor is None)
        return sum(1 for _ in items)

    def check_slice() -> int:
        total = cat.count(Query())
        return len(cat.items_after(None, -(-total // engine.check_within_days)))

    def statistics(full: bool) -> int:
        stats = year_report(cat, settings, year, None, frozenset(), full=full)
        return stats["coverage"]["items_read"] or 0

    # the last run was yesterday: what fell due since, and what changed since (nothing)
    yesterday = now - timedelta(days=1)
    cursor = {"seq": cat.change_seq(), "at": iso(yesterday),
              "soon": iso(yesterday + timedelta(days=engine.expiring_days)),
              "rules": engine.rules_fingerprint()}
    out["retention_full"] = _timed(lambda: retention(None))
    out["retention_unchanged"] = _timed(lambda: retention(cursor))
    out["check_slice"] = _timed(check_slice)
    out["statistics_full"] = _timed(lambda: statistics(True))
    out["statistics_unchanged"] = _timed(lambda: statistics(False))
    # 1% of the items get a new state (an event), each in its own transaction as a command
    rng = random.Random(args.seed + 3)
    n = max(1, args.items // 100)
    t = time.perf_counter()
    lo, hi = int(SPAN_START.timestamp() * 1000), int(now.timestamp() * 1000)
    for _ in range(n):
        # item ids are UUIDv7: their first 48 bits are the ingest time in milliseconds
        h = f"{rng.randrange(lo, hi):012x}"
        found = cat.items_after(f"{h[:8]}-{h[8:]}", 1) or cat.items_after(None, 1)
        item = found[0]
        item.events.append({"type": "note", "at": iso(now), "by": "bench"})
        cat.save_state(item)
    out["changed"] = {"items": n, "s": time.perf_counter() - t}
    out["retention_changed"] = _timed(lambda: retention(cursor))
    out["statistics_changed"] = _timed(lambda: statistics(False))
    shutil.rmtree(home, ignore_errors=True)
    return out


def bench(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    t = time.perf_counter()
    world = build_world(rng, args.parties)
    world_s = time.perf_counter() - t
    factory = ItemFactory(world, args.items, args.seed + 1, args.order)
    backend = open_backend(args.backend, args.dir, args.keep)
    result: dict[str, Any] = {
        "backend": args.backend, "where": backend.where, "items_requested": args.items,
        "batch": args.batch, "order": args.order, "seed": args.seed,
        "load_before": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version, "platform": platform.platform()},
    }
    try:
        gen_s = insert_s = objects_s = 0.0
        record_sample: list[Item] | None = None
        inserted = 0
        stopped = None
        rates: list[float] = []
        began = time.perf_counter()
        while not factory.exhausted():
            t = time.perf_counter()
            items = factory.batch(args.batch)
            gen_s += time.perf_counter() - t
            objects = [object_of(i) for i in items]
            t = time.perf_counter()
            backend.catalog.add_items(items)
            dt = time.perf_counter() - t
            t = time.perf_counter()
            backend.catalog.add_objects(objects)
            objects_s += time.perf_counter() - t
            if record_sample is None:
                record_sample = items[:200]
            insert_s += dt
            inserted += len(items)
            rates.append(len(items) / dt)
            if not args.quiet and sys.stderr.isatty():
                print(f"\r  inserted {inserted:,} items, {len(items) / dt:,.0f} items/s "
                      f"this batch", end="", file=sys.stderr, flush=True)
            if args.insert_budget and time.perf_counter() - began > args.insert_budget:
                stopped = (f"stopped inserting after {insert_s:.0f} s at {inserted:,} of "
                           f"{args.items:,} items (--insert-budget); queries ran at this size")
                break
        if not args.quiet and sys.stderr.isatty():
            print(file=sys.stderr)
        result.update(
            items=inserted, stopped=stopped, world_build_s=world_s, generate_s=gen_s,
            insert_s=insert_s, insert_items_per_s=inserted / insert_s,
            insert_first_batch_per_s=rates[0], insert_last_batch_per_s=rates[-1],
            insert_slowest_batch_per_s=min(rates),
            distinct_parties=len(factory.parties_used), objects_s=objects_s,
            objects_per_s=inserted / objects_s if objects_s else None,
            record_parts=record_parts(record_sample or []),
            # the items of a batch, the page cache of a bulk load (1 GiB) and what the catalog
            # holds meanwhile: what a rebuild of this size needs beside its own state
            peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        t = time.perf_counter()
        result["breakdown"] = backend.breakdown()  # checkpoints first: the size after it
        result.update(breakdown_s=time.perf_counter() - t, store_bytes=backend.size())

        qrng = random.Random(args.seed + 2)
        cat = backend.catalog
        budget = args.query_budget
        # A few unmeasured queries, so the first measured one does not pay for opening.
        for _, q in officer_queries(qrng, world, 5):
            cat.search(q, limit=50)
        series = [run_queries(cat, "officer_week", officer_queries(qrng, world, args.queries),
                              budget)]
        for fld, sample in (("party", factory.party_sample), ("cause", factory.cause_sample)):
            for length in (2, 3):
                subs = substrings(qrng, sample, length, args.queries)
                queries = [(s, Query(**{fld: s})) for s in subs]
                series.append(run_queries(cat, f"{fld}_{length}", queries, budget))
        result["queries"] = {s.name: s.summary() for s in series}

        times = []
        tiers: dict[str, int] = {}
        for _ in range(5):
            t = time.perf_counter()
            tiers = cat.count_by("tier")
            times.append((time.perf_counter() - t) * 1000)
        result.update(count_by_tier_ms=statistics.median(times), count_by_tier_first_ms=times[0],
                      count_by_tier=tiers)
        if args.runs:
            result["runs"] = runs(cat, args)
        result["load_after"] = os.getloadavg()
    finally:
        backend.cleanup()
    return result


# --- reporting --------------------------------------------------------------------------------
def verdict(value: float, goal_key: str) -> str:
    goal, sense = GOALS[goal_key]
    ok = value >= goal if sense == "min" else value <= goal
    return "ok" if ok else "MISSED"


def render(r: dict) -> str:
    lines = [f"custody catalog benchmark: backend {r['backend']}, {r['items']:,} items "
             f"(batches of {r['batch']:,}, {r['order']} order), seed {r['seed']}",
             f"  {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, "
             f"SQLite {r['machine']['sqlite']}; store: {r['where']}",
             "  load average (1/5/15 min) before {:.1f}/{:.1f}/{:.1f}, after {:.1f}/{:.1f}/{:.1f}"
             " (the run itself adds about 1)".format(*r["load_before"], *r["load_after"])]
    if r["stopped"]:
        lines.append(f"  NOTE: {r['stopped']}")
    lines.append(f"  peak memory (RSS) while inserting: {r['peak_rss_mib']:,.0f} MiB")
    size = r.get("store_bytes")
    lines.append(f"  generated in {r['generate_s']:.1f} s (not counted), "
                 f"{r['distinct_parties']:,} distinct parties"
                 + (f", store size {size / 2**20:,.0f} MiB" if size else ""))
    lines.append("")
    rows: list[tuple[str, str, str, str]] = []
    rows.append(("insert, all indexes (items/s)", f"{r['insert_items_per_s']:,.0f}",
                 f">= {GOALS['insert_items_per_s'][0]:,}",
                 verdict(r["insert_items_per_s"], "insert_items_per_s")))
    rows.append(("  first / last / slowest batch", f"{r['insert_first_batch_per_s']:,.0f} / "
                 f"{r['insert_last_batch_per_s']:,.0f} / {r['insert_slowest_batch_per_s']:,.0f}",
                 "", ""))
    titles = {"officer_week": ("officer + 1 week, first page of 50", "officer_week_p95_ms"),
              "party_2": ("party, 2-char substring", "substring_p95_ms"),
              "party_3": ("party, 3-char substring", "substring_p95_ms"),
              "cause_2": ("cause, 2-char substring", "substring_p95_ms"),
              "cause_3": ("cause, 3-char substring", "substring_p95_ms")}
    for key, (title, goal_key) in titles.items():
        s = r["queries"][key]
        if not s["n"]:
            continue
        goal = GOALS[goal_key][0]
        rows.append((f"{title} p50 (ms)", f"{s['p50_ms']:.2f}", "", ""))
        rows.append((f"{title} p95 (ms)", f"{s['p95_ms']:.2f}", f"<= {goal:g}",
                     verdict(s["p95_ms"], goal_key)))
        rows.append((f"  n={s['n']}, max {s['max_ms']:.1f} ms, mean hits "
                     f"{s['mean_hits']:.1f}", "", "", ""))
    rows.append(("count_by('tier'), median of 5 (ms)", f"{r['count_by_tier_ms']:.1f}",
                 f"<= {GOALS['count_by_tier_ms'][0]:g}",
                 verdict(r["count_by_tier_ms"], "count_by_tier_ms")))
    rows.append((f"  first call {r['count_by_tier_first_ms']:.1f} ms; {r['count_by_tier']}",
                 "", "", ""))
    w = max(len(a) for a, b, *_ in rows if b)
    lines.append(f"{'figure':<{w}}  {'measured':>21}  {'goal':>10}")
    for a, b, c, d in rows:
        lines.append(f"{a:<{w}}  {b:>21}  {c:>10}  {d}".rstrip() if b else a)
    if r.get("objects_per_s"):
        lines.append(f"objects (add_objects, beside the items): {r['objects_per_s']:,.0f}/s")
    parts = r.get("record_parts") or {}
    if parts:
        lines.append("an item's record as JSON (mean bytes): " + ", ".join(
            f"{k} {v:,.0f}" for k, v in parts.items()))
    if r.get("breakdown"):
        total = r.get("store_bytes") or 1
        n = max(r["items"], 1)
        lines.append("")
        lines.append(f"where the bytes go (after a checkpoint; {total / 2**20:,.0f} MiB, "
                     f"{total / n:,.0f} bytes per item, goal <= 3,072 "
                     f"{'ok' if total / n <= 3072 else 'MISSED'}):")
        for title, nbytes in r["breakdown"]:
            lines.append(f"  {title:<44} {nbytes / 2**20:>9,.1f} MiB {nbytes / n:>7,.0f} B/item")
    if r.get("runs"):
        u = r["runs"]
        lines.append("")
        lines.append(f"periodic runs, as of {u['as_of']} (the last run a day before; "
                     f"statistics of {u['statistics_year']}); goal <= 60 s incremental:")
        run_titles = (("retention run, full sweep (--all)", "retention_full"),
                  ("retention run, nothing changed", "retention_unchanged"),
                  ("retention check, one day's slice", "check_slice"),
                  ("statistics of a year, computed (--all)", "statistics_full"),
                  ("statistics of a year, nothing changed", "statistics_unchanged"),
                  (f"retention run, after {u['changed']['items']:,} items changed (1%)",
                   "retention_changed"),
                  ("statistics of a year, after that 1% changed", "statistics_changed"))
        for title, key in run_titles:
            v = u[key]
            lines.append(f"  {title:<52} {v['s']:>8.1f} s {v['items']:>10,} items read")
        lines.append(f"  (changing the 1%: {u['changed']['s']:.1f} s, one save_state each, "
                     "not counted)")
        lines.append("  replicate: not measured here (it needs a store and a replica: "
                     "benchmarks/replica_runs_bench.py)")
    lines.append("")
    lines.append("slowest queries:")
    for key in titles:
        for q in r["queries"][key].get("slowest", [])[:3]:
            lines.append(f"  {key:<13} {q['ms']:>8.2f} ms  {q['hits']:>3} hits  {q['query']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("sqlite", "mongomock", "mongodb", "wire"),
                   default="sqlite")
    p.add_argument("--items", type=int, help="default: 1,000,000 (mongomock: 100,000)")
    p.add_argument("--dir", help="SQLite: parent of the temporary catalog directory")
    p.add_argument("--batch", type=int, help=f"items per add_items call (default "
                   f"{REBUILD_BATCH:,}, what a rebuild writes; mongomock 1,000)")
    p.add_argument("--order", choices=("time", "random"), default="time",
                   help="recording times rising as in ingest (default), or in random order "
                   "as in a catalog rebuild")
    p.add_argument("--parties", type=int, default=200_000, help="distinct party names")
    p.add_argument("--queries", type=int, default=200, help="queries per measured series")
    p.add_argument("--insert-budget", type=float,
                   help="stop inserting after this many seconds (default: mongomock 180)")
    p.add_argument("--query-budget", type=float,
                   help="seconds per query series before it stops early (min. 20 queries; "
                   "default: mongomock 30)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--keep", action="store_true", help="keep the catalog afterwards")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--no-runs", dest="runs", action="store_false",
                   help="skip timing the periodic runs' traversals (full and incremental)")
    args = p.parse_args(argv)
    args.items = args.items or DEFAULT_ITEMS[args.backend]
    args.batch = args.batch or DEFAULT_BATCH[args.backend]
    if args.insert_budget is None:
        args.insert_budget = DEFAULT_INSERT_BUDGET_S[args.backend]
    if args.query_budget is None and args.backend == "mongomock":
        args.query_budget = 30.0
    try:
        result = bench(args)
    except CustodyError as exc:  # an unreachable server: its message, not a traceback
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    result["goals"] = {k: {"goal": g, "sense": s} for k, (g, s) in GOALS.items()}
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
