"""A small Windows PowerShell 5.1 interpreter with a hand-modelled Hyper-V module.

Test infrastructure behind the WS-Management responder (:mod:`.wsman_sim`). It runs exactly
the language subset and the cmdlets the Hyper-V plugin emits, with PowerShell's own lexical
rules where they matter for safety:

* single-quoted strings take ``'`` and the typographic ``‘ ’ ‚ ‛`` as delimiters, a doubled
  quote is one literal quote, and nothing inside is expanded;
* double-quoted strings expand ``$var`` and **execute** ``$(...)`` subexpressions; backtick
  escapes apply;
* ``;`` and newlines separate statements, ``|`` builds pipelines, ``#`` starts a comment;
* parameters bind by name (``-Name value``, ``-Force``, ``-Force:$false``) against each
  cmdlet's declared parameters; an unknown parameter is an error, as in PowerShell;
* ``$ErrorActionPreference = 'Stop'`` makes the first error terminate the script.

Every cmdlet invocation is appended to ``Host.transcript`` as (cmdlet, bound parameters), so a
test can prove that hostile strings arrived as data and that nothing else ran.

Hyper-V behaviour: VM states with the PowerShell ``VMState`` integers (Running=2, Off=3,
Saved=6, Paused=9), Hyper-V's error records (``Hyper-V was unable to find a virtual machine with
name "x".`` and friends, with their FullyQualifiedErrorId and CategoryInfo), memory accounting,
checkpoints (the running disk moves to an ``.avhdx``), disk hot-plug only on SCSI, live
migration (``Move-VM``) between hosts of one fabric, and VHD/VHDX files on disk (through
``qemu-img``, which reads and writes both formats).

The pieces: :mod:`.ps_lang` (lexer, objects, error records), :mod:`.ps_interpreter`,
:mod:`.hyperv_model` (fabric, hosts, VMs), and the cmdlets in :mod:`.hyperv_vm_cmdlets`,
:mod:`.hyperv_device_cmdlets` and :mod:`.ps_file_cmdlets`. Import this module: it registers them all.
"""

from __future__ import annotations

from overcast_hv_hyperv_sim import hyperv_device_cmdlets, hyperv_vm_cmdlets, ps_file_cmdlets  # noqa: F401 - registers the cmdlets
from overcast_hv_hyperv_sim.hyperv_model import Fabric, Host, VM
from overcast_hv_hyperv_sim.ps_interpreter import CMDLETS, Interpreter
from overcast_hv_hyperv_sim.ps_lang import ParseError, PsError, PsObject, lex, to_json, wildcard_match

__all__ = [
    "CMDLETS",
    "VM",
    "Fabric",
    "Host",
    "Interpreter",
    "ParseError",
    "PsError",
    "PsObject",
    "lex",
    "to_json",
    "wildcard_match",
]
