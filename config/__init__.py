from config.settings import AppEnv, ConfigError, Settings, load_settings

__all__ = ["AppEnv", "ConfigError", "Settings", "load_settings"]
