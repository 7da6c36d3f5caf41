from difusor.deploys.ssh import OPERATOR_COMMENT, retired_operators


def test_retired_operators_are_marked_accounts_missing_from_the_settings():
    users = {
        "ana": {"comment": OPERATOR_COMMENT},
        "beto": {"comment": OPERATOR_COMMENT},
        "carla": {"comment": OPERATOR_COMMENT},
        "ubuntu": {"comment": "Ubuntu"},  # the provider's account: never ours to retire
        "www-data": {"comment": "www-data"},
        "daniel": {},
    }
    assert retired_operators(users, ["ana"]) == ["beto", "carla"]
    assert retired_operators(users, ["ana", "beto", "carla"]) == []
