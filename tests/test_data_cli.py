from .conftest import needs_shared


def test_prepare_sesa_and_check(run_cli, tmp_path):
    sesa = needs_shared("SESA")
    out = tmp_path / "SESA"
    code, _, err = run_cli("data", "prepare", "sesa", "--source", sesa, "--out", out)
    assert code == 0, err
    train = (out / "train.csv").read_text().splitlines()
    test = (out / "test.csv").read_text().splitlines()
    assert len(train) - 1 == 480 and len(test) - 1 == 105
    assert sorted({line.rsplit(",", 1)[1] for line in train[1:]}) == ["casual", "explosion", "gunshot", "siren"]
    code, table, err = run_cli("data", "check", out)
    assert code == 0, err
    assert "585 files, 0 unreadable" in table.replace("\n", " ")


def test_esc50_sample_reports_missing(run_cli, tmp_path):
    esc = needs_shared("samples", "ESC-50-master")
    out = tmp_path / "ESC50"
    code, _, err = run_cli("data", "prepare", "esc50", "--source", esc, "--out", out)
    assert code == 2
    assert "1980 of 2000 files listed by meta/esc50.csv are missing" in err
    assert "--allow-missing" in err and not out.exists()
    code, _, err = run_cli("data", "prepare", "esc50", "--source", esc, "--out", out, "--allow-missing")
    assert code == 0, err
    assert "skipped 1980 missing file(s)" in err
    assert (out / "csv_files" / "train_1.csv").is_file()
