import pytest

from controlplane.validation import check_env, check_env_name, check_slug


@pytest.mark.parametrize("slug", ["acme", "a1b", "bot-42", "a" * 32, "x-y-z"])
def test_valid_slugs_pass(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    [
        "ab",
        "a" * 33,
        "1abc",
        "-abc",
        "abc-",
        "ACME",
        "ac_me",
        "ac.me",
        "a--b",
        "ac`me",
        "a b c",
        "acme)",
        "",
    ],
)
def test_invalid_slugs_are_refused(slug: str) -> None:
    with pytest.raises(ValueError, match="DNS label"):
        check_slug(slug)


@pytest.mark.parametrize("slug", ["admin", "api", "www", "traefik", "dashboard"])
def test_reserved_slugs_are_refused(slug: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        check_slug(slug)


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "", "X" * 129, "A=B", "A\nB"])
def test_invalid_env_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_env_name(name)


def test_berth_prefix_is_reserved_for_berth() -> None:
    with pytest.raises(ValueError, match="reserved"):
        check_env_name("BERTH_TENANT")


def test_env_values_are_bounded() -> None:
    with pytest.raises(ValueError, match="at most"):
        check_env({"A": "x" * 5000})
    with pytest.raises(ValueError, match="NUL"):
        check_env({"A": "x\x00y"})
    assert check_env({"A": "ok", "_B2": ""}) == {"A": "ok", "_B2": ""}
