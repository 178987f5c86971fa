"""Atomic writes: the old file or the new one, and a precise WriteError when neither can change."""

import pytest

from awsaug_cli.atomic import WriteError, atomic_write_text


def test_a_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left beside it


def test_a_missing_folder_is_a_write_error(tmp_path):
    with pytest.raises(WriteError, match="the folder .*nowhere does not exist"):
        atomic_write_text(tmp_path / "nowhere" / "out.json", "new")


def test_a_folder_in_the_way_is_a_write_error_and_leaves_no_temporary(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(WriteError, match="cannot write"):
        atomic_write_text(tmp_path / "taken", "new")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
