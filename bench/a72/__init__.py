"""Development tools for the Raspberry Pi 4B's Cortex-A72 (emulated with qemu); not part of the wheel."""
