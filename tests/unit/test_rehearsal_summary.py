import pytest

from difusor.rehearsal.lab import LabError
from difusor.rehearsal.lab.rehearse import Summary, parse_junit


def test_parse_junit(tmp_path):
    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.host.test_base" name="test_timezone"/>'
        '<testcase classname="tests.host.test_time" name="test_chrony_synchronised">'
        '<failure message="assert False">trace</failure></testcase>'
        '<testcase classname="tests.host.test_base" name="test_kernel_sysctl[kernel.sysrq-0]">'
        '<skipped message="not applicable"/></testcase>'
        '<testcase classname="tests.lab.test_restore" name="test_lost_server">'
        '<properties><property name="summary" value="deploy 70 s + restore 9 s"/></properties>'
        "</testcase>"
        '<testcase classname="tests.lab.test_scan" name="test_tcp"><properties>'
        '<property name="summary" value="nmap: 80, 443 open"/><property name="other" value="x"/>'
        "</properties></testcase>"
        "</testsuite></testsuites>"
    )
    assert parse_junit(report) == [
        ("host.test_base::test_timezone", "passed", ""),
        ("host.test_time::test_chrony_synchronised", "failed", "assert False"),
        ("host.test_base::test_kernel_sysctl[kernel.sysrq-0]", "skipped", "not applicable"),
        ("lab.test_restore::test_lost_server", "passed", "deploy 70 s + restore 9 s"),
        ("lab.test_scan::test_tcp", "passed", "nmap: 80, 443 open"),
    ]


def test_tests_become_steps_and_skips_only_lines(capsys):
    summary = Summary()
    counts = summary.add_tests(
        [("a::ok", "passed", ""), ("b::bad", "failed", "assert 1 == 2"), ("c::na", "skipped", "")]
    )
    assert counts == {"passed": 1, "failed": 1, "skipped": 1}
    assert summary.steps == [("a::ok", True, ""), ("b::bad", False, "assert 1 == 2")]
    assert "SKIP c::na" in capsys.readouterr().out


def test_an_error_is_a_failed_step_and_cleanup_follows():
    summary = Summary()
    with summary.failures_recorded():
        summary.add("vagrant up", True)
        raise LabError("vagrant up failed (1):\nno box")
    assert summary.steps[-1] == ("rehearsal aborted", False, "vagrant up failed (1):")


def test_an_interrupt_is_a_failed_step_and_still_stops_the_run():
    summary = Summary()
    with pytest.raises(SystemExit), summary.failures_recorded():
        raise SystemExit(143)
    assert [ok for _, ok, _ in summary.steps] == [False]
    assert summary.steps[0][0] == "rehearsal interrupted"
