"""`septctl doctor`: versions, caches, devices and weights at a glance, with what is wrong spelled out."""

from __future__ import annotations

import json


def test_doctor_reports_versions_paths_devices_and_gaps(run_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    code, out, err = run_cli("doctor", "--json")
    assert code == 0, err
    report = json.loads(out)
    for package in ("septctl", "python", "torch", "torchaudio", "transformers", "numpy"):
        assert report["versions"][package], package
    assert report["caches"]["septctl"] == str(tmp_path / "cache")
    assert {"cuda", "mps", "cpu"} <= set(report["devices"])
    assert report["weights"]["tiny"] and "pengi" in report["weights"]
    assert any("Pengi weights are not cached" in p for p in report["problems"])  # a fresh cache has none


def test_doctor_warns_on_mismatched_torch_and_torchaudio(run_cli, monkeypatch):
    from septctl import artifacts

    real = artifacts.package_version
    monkeypatch.setattr(artifacts, "package_version", lambda p: "2.1.0" if p == "torchaudio" else real(p))
    _, out, _ = run_cli("doctor", "--json")
    problems = json.loads(out)["problems"]
    assert any("different releases" in p and "torchaudio 2.1.0" in p for p in problems)


def test_doctor_checks_the_default_backbone_in_effect(monkeypatch):
    from septctl.cli.doctor import collect_report

    monkeypatch.setenv("SEPTCTL_BACKBONE", "synth-clap")  # shipped: nothing to download
    assert not any("not cached" in p for p in collect_report()["problems"])
    monkeypatch.setenv("SEPTCTL_BACKBONE", "pengy")
    assert any("SEPTCTL_BACKBONE='pengy' is not a backbone" in p for p in collect_report()["problems"])
