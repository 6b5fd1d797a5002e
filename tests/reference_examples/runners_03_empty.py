if not genja.host_ids():
    print("no hosts selected")
