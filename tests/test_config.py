import pytest

from safety_features.config import ConfigError, config_from_dict, load_config
from safety_features.experiments.config import RunConfig
from safety_features.organism.config import OrganismConfig


def test_unknown_top_level_key_named():
    with pytest.raises(
        ConfigError, match=r"Unknown key config\.n_promts_per_group.*n_prompts_per_group"
    ):
        config_from_dict(RunConfig, {"n_promts_per_group": 3})


def test_unknown_nested_key_named():
    with pytest.raises(ConfigError, match=r"config\.sae_training\.hook"):
        config_from_dict(RunConfig, {"sae_training": {"hook": "blocks.0.hook_resid_pre"}})


def test_nested_values_built():
    config = config_from_dict(
        OrganismConfig,
        {
            "model": {"d_model": 64, "n_heads": 2},
            "chat": {"steps": 3, "batch_size": 2, "learning_rate": 1},
        },
    )
    assert config.model.d_model == 64
    assert config.chat.steps == 3
    assert isinstance(config.chat.learning_rate, float)


def test_wrong_type_named():
    with pytest.raises(ConfigError, match=r"config\.seed='zero' is invalid: expected int"):
        config_from_dict(RunConfig, {"seed": "zero"})


def test_invalid_value_names_field():
    with pytest.raises(ConfigError, match=r"n_heads=3 does not divide model.d_model=64"):
        config_from_dict(OrganismConfig, {"model": {"d_model": 64, "n_heads": 3}})


def test_repeated_clamp_features_named():
    with pytest.raises(ConfigError, match=r"features=\[3, 7, 3\] is invalid: it repeats"):
        config_from_dict(RunConfig, {"steering": {"features": [3, 7, 3]}})


def test_missing_file_named(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml not found"):
        load_config(RunConfig, tmp_path / "missing.yaml")


def test_invalid_yaml_named(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match="broken.yaml is not valid YAML"):
        load_config(RunConfig, path)


def test_shipped_configs_load():
    from safety_features.models.loading import REPOSITORY_ROOT

    assert load_config(RunConfig, REPOSITORY_ROOT / "configs" / "run.yaml").model == "organism:chat"
    assert (
        load_config(OrganismConfig, REPOSITORY_ROOT / "configs" / "organism.yaml").model.n_layers
        == 4
    )
