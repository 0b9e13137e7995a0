"""``overcast init`` (all-in-one, real drivers) configures DevStack's external network
(issue 17): the ``public`` flat network on host bridge ``br-ex`` with ``172.24.4.0/24``,
and Nova's metadata API port."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from overcast.cli.server import init_command
from overcast.config import load_config
from overcast.context import system_context
from overcast.plugins import load_plugin_manager
from overcast.runtime import build_runtime


def test_init_configures_the_public_network_on_br_ex(tmp_path: Path) -> None:
    directory = tmp_path / "cloud"
    result = CliRunner().invoke(init_command, ["--data-dir", str(directory), "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "external net: public" in result.output
    config = load_config(directory / "overcast.toml")
    if config.network is None or config.network.driver != "linuxbridge":
        return  # no linuxbridge plugin installed: nothing to configure (checked by the output above)
    options = config.network.model_extra or {}
    assert options["host_bridges"] == ["br-ex=172.24.4.1/24"]
    assert options["physical_interface_mappings"] == ["public:br-ex"]
    assert config.metadata.port == 8775
    runtime = build_runtime(config, pm=load_plugin_manager(strict=False))
    try:
        ctx = system_context()
        nets = [n for n in runtime.network.networks.list(ctx) if n["name"] == "public"]
        assert len(nets) == 1 and nets[0]["router:external"] is True
        assert nets[0]["provider:network_type"] == "flat" and nets[0]["provider:physical_network"] == "public"
        subnets = [s for s in runtime.network.subnets.list(ctx) if s["network_id"] == nets[0]["id"]]
        assert [(s["cidr"], s["gateway_ip"], s["enable_dhcp"]) for s in subnets] == [
            ("172.24.4.0/24", "172.24.4.1", False)
        ]
    finally:
        runtime.close()
    again = CliRunner().invoke(init_command, ["--data-dir", str(directory), "--port", "0", "--force"])
    assert again.exit_code == 0, again.output
    runtime = build_runtime(config, pm=load_plugin_manager(strict=False))
    try:
        assert len([n for n in runtime.network.networks.list(system_context()) if n["name"] == "public"]) == 1
    finally:
        runtime.close()
