from difusor.rehearsal.lab.wrk import parse

WRK_OUTPUT = """Running 5s test @ https://198.18.0.10/cgi-bin/resultados
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.82ms    1.77ms   8.69ms   76.00%
  Latency Distribution
     50%    2.39ms
     75%    3.50ms
     90%    5.34ms
     99%    1.20s
  2000 requests in 5.00s, 1.41MB read
  Non-2xx or 3xx responses: 1650
Requests/sec:    400.00
Transfer/sec:    288.20KB
"""


def test_wrk_figures_parsed_with_their_units():
    assert parse(WRK_OUTPUT) == {
        "requests": 2000,
        "seconds": 5.0,
        "rps": 400.0,
        "p99_ms": 1200.0,
        "non_2xx": 1650,
    }


def test_wrk_output_without_errors_or_figures():
    figures = parse(WRK_OUTPUT.replace("  Non-2xx or 3xx responses: 1650\n", ""))
    assert figures["non_2xx"] == 0
    assert parse("unable to connect to 198.18.0.10:443 Connection refused") == {
        "requests": 0,
        "seconds": None,
        "rps": 0.0,
        "p99_ms": None,
        "non_2xx": 0,
    }
