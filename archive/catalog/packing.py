"""How the SQLite catalog stores a JSON document: compressed against a fixed dictionary of
what records look like (the keys and constant values every item, version and object
repeats), so a 5.4 KB item record is stored in about 0.95 KB and fits in its row's page with
no overflow page. Only the randomness of digests, ids, signatures and times remains.

A packed document is a BLOB whose first byte names its format: 1 is deflate (zlib) against
the dictionary, 2 is Zstandard against the same dictionary as raw content, three times
faster to write at the same size (measured on the benchmark's items: 15-18 µs against
49-146 µs per 5.3 KB record). New rows are written in format 2; format 1 rows stay readable
as they are. A TEXT value is a plain JSON document (rows written before schema 4, and what a
person may write by hand). The dictionary must never change: a new one gets a new first
byte, and the old one stays to read the old rows (``DICTIONARY_SHA256`` is pinned by a
test).

The JSON is written by orjson, four times faster than ``json``: the same text as
``json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":"))`` but for the form of
some floats (``1e-5`` for ``1e-05``, the same number), which a test holds it to. What orjson
refuses (an integer beyond 64 bits, a key that is no string) is written by ``json`` as
before. A float that is not finite is written as ``null`` (standard JSON has no NaN;
``json`` wrote a non-standard ``NaN``): no record holds one, signed metadata refuses them
(archive/domain/canonical.py) and the media probe gives no duration rather than one.
Documents are read by ``json``: orjson would read an integer beyond 64 bits as a float.
"""

from __future__ import annotations

import json
import threading
import zlib

import orjson
import zstandard

#: one demo object, one demo photo item and one demo video item (``custody demo``), digests,
#: ids and signatures blanked: deflate finds the rest of a new record in it
_DICTIONARY_1 = (
    '{"created_at":"2026-12-02T00:18:00.512879Z","digests":{"sha256":"","size":44610,"sm3":'
    '""},"sha256":"","storage":{"backend":"local","key":"objects/26/","location":"worm","lo'
    'ck":{"legal_hold":true,"mode":"LOCAL-WORM","protection":{"immutable_attribute":true,"r'
    'ead_only_mode":true,"retention_enforced_by":"custody (sidecar)"},"retain_until":"2027-'
    '06-02T00:18:00.753458Z"},"lock_verified_at":"2026-12-02T00:18:00.764263Z","size":44610'
    ',"version_id":""}}{"checks":{"deadline":{"due":"2026-12-05T00:00:00+08:00","late":fals'
    'e,"result":"pass","rule":"2 days"},"format":{"codecs":[],"container":null,"creation_ti'
    'me":null,"creation_time_utc":null,"damaged":false,"description":"PDF document, version'
    ' 1.4, 1 pages","duration_s":null,"encrypted":false,"extension":"pdf","extension_matche'
    's":true,"kind_allowed":true,"mime":"application/pdf","problems":[],"truncated":false},'
    '"four_property":[{"check":"digests (SHA-256, SM3)","observed":"","property":"authentic'
    'ity","result":"pass"},{"check":"metadata signed (Ed25519)","observed":true,"property":'
    '"authenticity","result":"pass"},{"check":"source recorded","observed":"scans/SJ-2026-0'
    '042-询问笔录.pdf","property":"authenticity","result":"pass"},{"check":"time consistency","'
    'observed":null,"property":"authenticity","result":"not-checkable"},{"check":"required '
    'metadata","observed":"complete","property":"integrity","result":"pass"},{"check":"size'
    '","observed":615,"property":"integrity","result":"pass"},{"check":"not truncated","obs'
    'erved":true,"property":"integrity","result":"pass"},{"check":"device sequence","observ'
    'ed":"no file number","property":"integrity","result":"not-applicable"},{"check":"forma'
    't allowed","observed":"application/pdf","property":"usability","result":"pass"},{"chec'
    'k":"readable","observed":"ok","property":"usability","result":"pass"},{"check":"not en'
    'crypted","observed":true,"property":"usability","result":"pass"},{"check":"virus scan"'
    ',"observed":"clean (ClamAV 1.4.6 custody test signatures sha256:dd205c21b1639fa8, INST'
    'REAM)","property":"security","result":"pass"},{"check":"WORM lock confirmed","observed'
    '":"2027-06-02T00:18:00.558589Z","property":"security","result":"pass"}],"virus":{"data'
    'base":"custody test signatures sha256:dd205c21b1639fa8","engine":"ClamAV 1.4.6","metho'
    'd":"INSTREAM","reason":null,"signature":null,"status":"clean","windows":1},"written_re'
    'cord":{"recorded":["2026-12-01T19:00:00+00:00","2026-12-01T19:41:04+00:00"],"result":"'
    'pass","written_record":["2026-12-01T19:00:01+00:00","2026-12-01T19:00:02+00:00"]}},"cu'
    'rrent":{"key_id":"ed25519:","manifest":{"created_at":"2026-12-02T00:18:00.569919Z","cr'
    'eated_by":"demo-admin","description":{"activity_id":"ACT-DSJ-0101-20261202","activity_'
    'type":"询问","assisting":[],"case_id":"SJ-2026-0042","cause":"无照经营","confidential":null,'
    '"device_id":null,"extra":{"document_date":"2026-12-01T19:00:00Z","document_type":"询问笔录'
    '","title":"王五询问笔录"},"important":false,"kind":"document","note":null,"officers":["P1001'
    '"],"offloaded_at":"2026-12-02T00:18:00.558528Z","party":"王五","record_form":"文字记录","rec'
    'orded_end":"2026-12-01T19:00:02Z","recorded_start":"2026-12-01T19:00:01Z","source":{"b'
    'atch":"","manifest_line":13,"original_name":"scans/SJ-2026-0042-询问笔录.pdf","station":"S'
    'TATION-01"},"unit":"market-001"},"item_id":"","object":{"sha256":"","size":615,"sm3":"'
    '"},"reason":"ingest","type":"custody.item-metadata","version":1},"signature":""},"dedu'
    'pe":":c5497378c1cae397faa772464fdd5389","events":[{"agent":"demo-admin","at":"2026-12-'
    '02T00:18:00.575535Z","outcome":"success","sha256":"","size":615,"sm3":"","type":"messa'
    'ge digest calculation"},{"agent":"demo-admin","at":"2026-12-02T00:18:00.575551Z","outc'
    'ome":"success","type":"ingestion"},{"agent":"demo-admin","at":"2026-12-02T00:18:00.575'
    '658Z","method":"INSTREAM","outcome":"clean","type":"virus check"},{"agent":"demo-admin'
    '","at":"2026-12-02T00:18:00.575663Z","mime":"application/pdf","outcome":"success","typ'
    'e":"format identification"},{"agent":"demo-admin","at":"2026-12-02T00:18:00.806495Z","'
    'outcome":"same bytes and metadata already archived","source":{"batch":"","manifest_lin'
    'e":13,"original_name":"scans/SJ-2026-0042-询问笔录.pdf","station":"STATION-01"},"type":"du'
    'plicate"}],"id":"","ingested_at":"2026-12-02T00:18:00.558589Z","legal_hold":true,"reta'
    'in_until":"2027-06-02T00:18:00.558589Z","retention":{},"sha256":"","status":"archived"'
    ',"storage":{"ledger_seq":10,"manifests":[{"key":"objects/d0/.meta//v0001.json","versio'
    'n":1,"version_id":""}],"object":{"backend":"local","key":"objects/d0/","location":"wor'
    'm","lock":{"legal_hold":true,"mode":"LOCAL-WORM","protection":{"immutable_attribute":t'
    'rue,"read_only_mode":true,"retention_enforced_by":"custody (sidecar)"},"retain_until":'
    '"2027-06-02T00:18:00.558589Z"},"size":615,"version_id":""}},"tier":"routine"}{"checks"'
    ':{"consistency":{"clock_offset_s":0.0,"duration_difference_s":0.0,"media_start":"2026-'
    '12-01T19:25:00+00:00","result":"pass"},"deadline":{"due":"2026-12-03T00:00:00+08:00","'
    'late":false,"offloaded_at":"2026-12-02T00:18:00.473367+00:00","result":"pass","rule":"'
    'same day"},"format":{"codecs":["AVC","AAC"],"container":"MPEG-4","creation_time":"2026'
    '-12-01 19:25:00 UTC","creation_time_utc":true,"damaged":false,"description":"ISO Media'
    ', MP4 Base Media v1 [ISO 14496-12:2003]","duration_s":2.0,"encrypted":false,"extension'
    '":"mp4","extension_matches":true,"kind_allowed":true,"mime":"video/mp4","problems":[],'
    '"truncated":false},"four_property":[{"check":"digests (SHA-256, SM3)","observed":"","p'
    'roperty":"authenticity","result":"pass"},{"check":"metadata signed (Ed25519)","observe'
    'd":true,"property":"authenticity","result":"pass"},{"check":"source recorded","observe'
    'd":"DSJ-0101/DSJ-0101_20261202_032500_0002.MP4","property":"authenticity","result":"pa'
    'ss"},{"check":"time consistency","observed":"pass","property":"authenticity","result":'
    '"pass"},{"check":"required metadata","observed":"complete","property":"integrity","res'
    'ult":"pass"},{"check":"size","observed":24653,"property":"integrity","result":"pass"},'
    '{"check":"not truncated","observed":true,"property":"integrity","result":"pass"},{"che'
    'ck":"device sequence","observed":2,"property":"integrity","result":"pass"},{"check":"f'
    'ormat allowed","observed":"video/mp4","property":"usability","result":"pass"},{"check"'
    ':"readable","observed":"ok","property":"usability","result":"pass"},{"check":"not encr'
    'ypted","observed":true,"property":"usability","result":"pass"},{"check":"virus scan","'
    'observed":"clean (ClamAV 1.4.6 custody test signatures sha256:dd205c21b1639fa8, INSTRE'
    'AM)","property":"security","result":"pass"},{"check":"WORM lock confirmed","observed":'
    '"2027-06-02T00:18:00.473367Z","property":"security","result":"pass"}],"virus":{"databa'
    'se":"custody test signatures sha256:dd205c21b1639fa8","engine":"ClamAV 1.4.6","method"'
    ':"INSTREAM","reason":null,"signature":null,"status":"clean","windows":1},"written_reco'
    'rd":{"recorded":["2026-12-01T19:00:00+00:00","2026-12-01T19:41:04+00:00"],"result":"pa'
    'ss","written_record":["2026-12-01T19:00:01+00:00","2026-12-01T19:00:02+00:00"]}},"curr'
    'ent":{"key_id":"ed25519:","manifest":{"created_at":"2026-12-02T00:18:00.484832Z","crea'
    'ted_by":"demo-admin","description":{"activity_id":"ACT-DSJ-0101-20261202","activity_ty'
    'pe":"询问","assisting":["P3001"],"case_id":"SJ-2026-0042","cause":"销售过期食品","confidential'
    '":null,"device_id":"DSJ-0101","extra":{"sequence":2},"important":false,"kind":"video",'
    '"note":null,"officers":["P1001"],"offloaded_at":"2026-12-02T00:18:00.473271Z","party":'
    '"某某食品有限公司","record_form":"音像记录","recorded_end":"2026-12-01T19:25:02Z","recorded_start"'
    ':"2026-12-01T19:25:00Z","source":{"batch":"","manifest_line":3,"original_name":"DSJ-01'
    '01/DSJ-0101_20261202_032500_0002.MP4","station":"STATION-01"},"unit":"market-001"},"it'
    'em_id":"","object":{"sha256":"","size":24653,"sm3":""},"reason":"ingest","type":"custo'
    'dy.item-metadata","version":1},"signature":""},"dedupe":":c8655f3bd99181d4f46701a06745'
    '975a","events":[{"agent":"demo-admin","at":"2026-12-02T00:18:00.491391Z","outcome":"su'
    'ccess","sha256":"","size":24653,"sm3":"","type":"message digest calculation"},{"agent"'
    ':"demo-admin","at":"2026-12-02T00:18:00.491400Z","outcome":"success","type":"ingestion'
    '"},{"agent":"demo-admin","at":"2026-12-02T00:18:00.491502Z","method":"INSTREAM","outco'
    'me":"clean","type":"virus check"},{"agent":"demo-admin","at":"2026-12-02T00:18:00.4915'
    '06Z","mime":"video/mp4","outcome":"success","type":"format identification"},{"agent":"'
    'demo-admin","at":"2026-12-02T00:18:00.744578Z","outcome":"same bytes and metadata alre'
    'ady archived","source":{"batch":"","manifest_line":3,"original_name":"DSJ-0101/DSJ-010'
    '1_20261202_032500_0002.MP4","station":"STATION-01"},"type":"duplicate"}],"id":"","inge'
    'sted_at":"2026-12-02T00:18:00.473367Z","legal_hold":true,"retain_until":"2027-06-02T00'
    ':18:00.473367Z","retention":{},"sha256":"","status":"archived","storage":{"ledger_seq"'
    ':4,"manifests":[{"key":"objects/d1/.meta//v0001.json","version":1,"version_id":""}],"o'
    'bject":{"backend":"local","key":"objects/d1/","location":"worm","lock":{"legal_hold":t'
    'rue,"mode":"LOCAL-WORM","protection":{"immutable_attribute":true,"read_only_mode":true'
    ',"retention_enforced_by":"custody (sidecar)"},"retain_until":"2027-06-02T00:18:00.4733'
    '67Z"},"size":24653,"version_id":""}},"tier":"routine"}'
).encode()
DICTIONARY_SHA256 = "161d9be04e2a46b3a9be8a8c3e4523ff61afbb7f098d7f4990cfc4b87b4ac7ab"
_DEFLATE, _ZSTD = 1, 2
_CURRENT = _ZSTD
_LEVEL = 2  # deflate, for format 1: level 6 saves 12% more bytes for twice the time
_ZSTD_LEVEL = 3  # measured: level 1 is no faster and 7% larger; 5 is 11% smaller, 2.3x slower
_ZSTD_DICT = zstandard.ZstdCompressionDict(_DICTIONARY_1,
                                           dict_type=zstandard.DICT_TYPE_RAWCONTENT)
_MAX_DOCUMENT = 64 << 20  # a stored document larger than this is damage, not a record
_OPTIONS = orjson.OPT_SORT_KEYS
_local = threading.local()  # zstandard's (de)compressors are not shared between threads


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    pair = getattr(_local, "zstd", None)
    if pair is None:
        pair = _local.zstd = (
            zstandard.ZstdCompressor(level=_ZSTD_LEVEL, dict_data=_ZSTD_DICT,
                                     write_content_size=True, write_checksum=False,
                                     write_dict_id=False),
            zstandard.ZstdDecompressor(dict_data=_ZSTD_DICT))
    return pair


def dumps(doc: object) -> str:
    try:
        return orjson.dumps(doc, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError: json writes what it cannot
        return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def pack_text(text: str) -> bytes:
    """A JSON text, packed."""
    return bytes((_ZSTD,)) + _zstd()[0].compress(text.encode())


def _deflate(data: bytes) -> bytes:
    """Format 1 (deflate against the dictionary): still read, and written by tests."""
    z = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY,
                         _DICTIONARY_1)
    return bytes((_DEFLATE,)) + z.compress(data) + z.flush()


def pack(doc: object) -> bytes:
    # orjson's bytes as they come: no round trip through str (a record is ~5 KB)
    return bytes((_ZSTD,)) + _zstd()[0].compress(dump(doc))


def dump(doc: object) -> bytes:
    """A document's JSON text, as ``pack`` compresses it (``compress_many``)."""
    try:
        return orjson.dumps(doc, option=_OPTIONS)
    except TypeError:
        return dumps(doc).encode()


def compress_many(texts: list[bytes]) -> list[bytes]:
    """The packed forms of many JSON texts (``dump``), the same bytes as ``pack`` gives
    each. They are compressed in one call that releases the GIL for all of them, so a
    second thread can compress a batch's records while the first inserts rows: one call a
    record took the GIL back at every record."""
    c = _zstd()[0]
    head = bytes((_ZSTD,))
    if len(texts) < 2 or not hasattr(c, "multi_compress_to_buffer"):  # the cffi backend
        return [head + c.compress(t) for t in texts]
    out = c.multi_compress_to_buffer(texts, threads=1)
    return [head + out[n].tobytes() for n in range(len(out))]


def unpack_text(value: bytes | str) -> str:
    """The JSON text of a stored document, packed or plain."""
    if isinstance(value, str):
        return value
    if value[0] == _ZSTD:
        return _zstd()[1].decompress(value[1:], max_output_size=_MAX_DOCUMENT).decode()
    if value[0] == _DEFLATE:
        z = zlib.decompressobj(-15, _DICTIONARY_1)
        return (z.decompress(value[1:]) + z.flush()).decode()
    raise ValueError(f"a catalog document packed with dictionary {value[0]}, which "
                     "this custody does not know (written by a newer one)")


def unpack(value: bytes | str) -> dict:
    # json, not orjson: orjson reads an integer beyond 64 bits as a float, silently
    return json.loads(unpack_text(value))
