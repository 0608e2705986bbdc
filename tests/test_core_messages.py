"""The archive core's refusals and report lines (catalog, WORM store, ledger, copies) as a
person reads them: in Chinese by default, while ``--json`` and stored reports keep the English
message beside the Chinese text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import i18n
from archive.catalog.base import Query
from archive.copies.restore import restore_items
from archive.domain.errors import InputError, WormViolation
from archive.worm.local import LocalWormStore
from tests.support.cli import env, run, run_json  # noqa: F401  (env: a fixture)
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.worm import release_all_for_tests


def test_a_catalog_refusal_reaches_the_command_line_in_chinese(env, chinese):
    run("init")
    shown = run("search", "--party", "王", code=2).stderr
    assert "按当事人检索至少需要 2 个字" in shown
    assert english_phrases(shown) == []
    out = run_json("search", "--party", "王", code=2)
    assert out["error"] == "bad-input"
    assert out["message"] == "party search needs at least 2 characters"
    assert out["text"] == "按当事人检索至少需要 2 个字"


def test_a_rebuild_refusal_names_the_catalog_in_both_languages(env, chinese):
    run("init")  # the configured catalog now holds the ledger: a rebuild into it is refused
    shown = run("rebuild-catalog", code=2).stderr
    catalog = str(env / "data" / "catalog.sqlite")
    assert f"目标目录库 {catalog} 不是空的" in shown
    assert english_phrases(shown, allowed=(catalog,)) == []
    out = run_json("rebuild-catalog", code=2)
    assert out["message"] == (f"the target catalog {catalog} is not empty; a rebuild never "
                              "merges into a live catalog")
    assert out["text"].startswith(f"目标目录库 {catalog} 不是空的")


def test_a_worm_refusal_is_english_for_machines_and_chinese_for_people(tmp_path, chinese):
    store = LocalWormStore(tmp_path / "worm")
    until = datetime.now(timezone.utc) + timedelta(days=3)
    try:
        stored = store.put_blob("notes/a.json", b"{}", until)
        with pytest.raises(WormViolation) as refused:
            store.delete_version("notes/a.json", stored.version_id)
        exc = refused.value
        assert exc.message == (f"notes/a.json@{stored.version_id} is retained until "
                               f"{stored.lock.retain_until.isoformat()}")
        assert i18n.localize(exc) == (f"notes/a.json@{stored.version_id} 锁定至 "
                                      f"{stored.lock.retain_until.isoformat()}")
        assert exc.to_dict() == {"error": "worm-refused", "message": exc.message,
                                 "text": i18n.localize(exc), "subject": "notes/a.json"}
        with pytest.raises(WormViolation) as again:
            store.put_blob("notes/a.json", b"{}", until)
        assert i18n.localize(again.value) == "notes/a.json 已存在；存储从不覆盖已有数据"
    finally:
        release_all_for_tests(tmp_path)
    with pytest.raises(InputError) as short:  # a Text inside the refusal: the field searched
        Query(cause="x")
    assert short.value.message == "cause search needs at least 2 characters"
    assert i18n.localize(short.value) == "按案由检索至少需要 2 个字"


def test_in_english_the_refusals_read_as_before(tmp_path):
    """The suite's language: the English message is what a person reads."""
    with pytest.raises(InputError) as refused:
        LocalWormStore(tmp_path / "worm").discard_pending("../etc")
    assert i18n.localize(refused.value) == refused.value.message == \
        "not a pending upload: '../etc'"


def test_a_restore_outcome_keeps_english_beside_the_readers_text(env, chinese):
    """A service's answer that is not an error: ``message`` English, ``text`` Chinese."""
    import bootstrap
    from archive import people
    from config import settings

    run("init")
    archive = bootstrap.open_archive(settings.load())
    try:
        actor = people.acting_person(archive.catalog)
        report = env / "verify.json"
        report.write_text('{"results": [{"item": "A", "ok": true}]}', encoding="utf-8")
        out = restore_items(archive, actor, lambda: None, report=report)
        assert out["message"] == "the report failed no item: nothing to restore"
        assert out["text"] == "该报告中没有未通过的条目：无需恢复"
        with pytest.raises(InputError) as refused:
            restore_items(archive, actor, lambda: None)
        assert i18n.localize(refused.value) == "请给出 ITEM... 或 --from-report FILE（二者选一）"
    finally:
        archive.catalog.close()
