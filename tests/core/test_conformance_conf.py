"""scripts/conformance.sh's tempest.conf: written from what the cloud advertises, with the
feature flags of Overcast's feature table."""

from __future__ import annotations

import configparser

from overcast.testing.conformance import FEATURES, CloudFacts, tempest_conf


def test_tempest_conf_from_cloud_facts() -> None:
    facts = CloudFacts(
        url="http://127.0.0.1:6080",
        password="pw",
        region="RegionOne",
        image_ids=["i1", "i2"],
        flavor_ids=["f1", "f2"],
        public_network_id="net",
        compute_versions=("2.1", "2.37"),
        volume_versions=("3.0", "3.71"),
        network_extensions=["router", "security-group"],
        volume_extensions=["os-quota-sets", "os-volume-actions"],
        swift_apis=["bulk_delete", "slo", "swift", "tempurl"],
        http_image="http://127.0.0.1:6080/object/v1/AUTH_p/web/g.qcow2",
    )
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(tempest_conf(facts, "/tmp/tempest.log"))
    assert conf["identity"]["uri_v3"] == "http://127.0.0.1:6080/identity/v3"
    assert conf["auth"]["use_dynamic_credentials"] == "true" and conf["auth"]["admin_password"] == "pw"
    assert (conf["compute"]["image_ref"], conf["compute"]["image_ref_alt"]) == ("i1", "i2")
    assert (conf["compute"]["flavor_ref"], conf["compute"]["flavor_ref_alt"]) == ("f1", "f2")
    assert conf["compute"]["max_microversion"] == "2.37" and conf["volume"]["max_microversion"] == "3.71"
    assert conf["network"]["public_network_id"] == "net"
    # web-download and the task API import the tiny guest from the cloud's own object store
    assert conf["image"]["http_qcow2_image"] == conf["image"]["http_image"] == facts.http_image
    assert conf["network-feature-enabled"]["api_extensions"] == "router,security-group"
    assert conf["volume-feature-enabled"]["api_extensions"] == "os-quota-sets,os-volume-actions"
    assert conf["object-storage-feature-enabled"]["discoverable_apis"] == "bulk_delete,slo,swift,tempurl"
    for group, flags in FEATURES.items():
        assert {k: conf[group][k] for k in flags} == {k: str(v).lower() for k, v in flags.items()}
    validation = conf["validation"]
    assert (validation["run_validation"], validation["connect_method"], validation["auth_method"]) == (
        "true",
        "floating",
        "keypair",
    )


def test_conformance_cloud_config_adds_the_silver_storage_policy(tmp_path) -> None:
    """The conformance cloud has a second Swift storage policy named ``silver`` (Tempest's
    per-policy account quota test looks for it), and the rewritten config still loads."""
    from click.testing import CliRunner

    from overcast.cli import build_cli
    from overcast.config import load_config
    from overcast.testing.conformance import SECOND_STORAGE_POLICY, cloud_config

    cli = build_cli(load_plugins=False)
    result = CliRunner().invoke(cli, ["init", "--data-dir", str(tmp_path), "--admin-password", "pw"])
    assert result.exit_code == 0, result.output
    cloud_config(tmp_path / "overcast.toml")
    config = load_config(tmp_path / "overcast.toml")
    assert SECOND_STORAGE_POLICY == "silver"
    assert config.objectstore.policies["silver"].driver == "fs"


def test_cloud_config_puts_the_metadata_api_on_a_free_port(tmp_path) -> None:
    """Two conformance clouds on one machine (two checkouts) must not both want Nova's 8775."""
    import tomllib

    from overcast.cli.server import to_toml
    from overcast.testing.conformance import cloud_config
    from overcast.testing.fixtures import fake_config_data

    path = tmp_path / "overcast.toml"
    path.write_text(to_toml(fake_config_data(tmp_path, hosts=1), "test"))
    cloud_config(path)
    port = tomllib.loads(path.read_text())["metadata"]["port"]
    assert isinstance(port, int) and port not in (0, 8775)
