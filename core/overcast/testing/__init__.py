"""``overcast.testing``: what a driver author needs to test a driver against the contract.

* fake drivers of every kind (:mod:`overcast.testing.fakes`);
* fixtures (auto-loaded as a pytest plugin): ``overcast_pm``, ``overcast_config``,
  ``overcast_runtime``, ``fake_drivers``;
* markers ``root``, ``libvirt``, ``netns``, ``lvm``, ``postgres``, ``rabbitmq``, ``slow``
  that skip with a reason when the facility is missing;
* contract suites per kind (:mod:`overcast.testing.contract`): subclass one in your tests
  and provide the ``driver`` and ``target`` fixtures.
"""

from overcast.testing.fakes import FakeDriversPlugin

__all__ = ["FakeDriversPlugin"]
