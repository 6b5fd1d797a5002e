print(results.host_summary())
for host_id in results.failed_hosts:
    print(f"failed host: {host_id}")
