"""Settings as data: one validated object per command, and the reading of each value a user writes.

May import: ``errors`` only. Everything else builds on these settings; they depend on nothing above them.
"""

from .settings import (
    PRECISIONS,
    DenoiseConfig,
    SettingField,
    Settings,
    TrainConfig,
    setting_fields,
)

__all__ = ["PRECISIONS", "DenoiseConfig", "SettingField", "Settings", "TrainConfig", "setting_fields"]
