import genja as genja_lib

genja = genja_lib.Genja.from_settings_file("settings.yaml")
genja = genja.with_runner("serial")
