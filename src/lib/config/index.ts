/** Default location of the config file (`-c/--config FILE` overrides it). */
export const DEFAULT_CONFIG_PATH = '/etc/diswall/diswall.conf'
