import pytest

from controlplane.security.crypto import SecretBox
from controlplane.settings import InsecureSettingsError, Settings


def test_secret_roundtrip_and_ciphertext_hides_value() -> None:
    box = SecretBox("any long operator string")
    token = box.encrypt("hunter2-very-secret")
    assert b"hunter2" not in token
    assert box.decrypt(token) == "hunter2-very-secret"


def test_wrong_key_cannot_decrypt() -> None:
    token = SecretBox("key-one").encrypt("value")
    with pytest.raises(ValueError):
        SecretBox("key-two").decrypt(token)


def test_prod_refuses_default_secrets(tmp_path: object) -> None:
    with pytest.raises(InsecureSettingsError, match="SECRET_KEY"):
        Settings(env="prod", admin_token="x" * 40).check_production_safety()
    with pytest.raises(InsecureSettingsError, match="ADMIN_TOKEN"):
        Settings(env="prod", secret_key="k" * 40, admin_token="changeme").check_production_safety()
    Settings(env="prod", secret_key="k" * 40, admin_token="x" * 40).check_production_safety()


def test_generated_secrets_persist_in_data_dir(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    s = Settings(data_dir=tmp_path)
    token = s.resolved_admin_token()
    key = s.resolved_secret_key()
    assert Settings(data_dir=tmp_path).resolved_admin_token() == token
    assert Settings(data_dir=tmp_path).resolved_secret_key() == key
    assert oct((tmp_path / "admin.token").stat().st_mode)[-3:] == "600"
