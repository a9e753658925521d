"""Where Data Designer keeps ``data_designer.config.utils`` names that ported code imports."""
