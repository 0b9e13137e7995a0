"""Orchestration (Heat v1): HOT templates, stacks and the engine that drives the other
services' APIs as the stack owner. ``template/`` reads templates, ``engine`` runs stack
actions, ``resources/`` holds one module of resource types per service, and
:class:`~overcast.orchestration.resource.ResourceType` is the public base class plugins
subclass (``overcast_register_resource_types``)."""
