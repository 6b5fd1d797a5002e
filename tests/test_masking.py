"""The secret-masking rule table against a corpus of real-world config lines, per platform.

Each secret case is (platform, line as the device prints it, the line as it must read
masked): only the secret token changes. Each plain case must come back unchanged.
"""

from __future__ import annotations

import pytest

from genja_prefect.masking import MASK, SECRET_RULES, mask_secrets

M = MASK

SECRET_LINES: list[tuple[str, str, str]] = [
    # --- Cisco IOS / IOS-XE -------------------------------------------------------------
    ("ios", "enable secret 9 $9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM",
     f"enable secret 9 {M}"),
    ("ios", "enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0", f"enable secret 5 {M}"),
    ("ios", "enable secret level 15 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0", f"enable secret level 15 5 {M}"),
    ("ios", "enable password 7 0822455D0A16", f"enable password 7 {M}"),
    ("ios", "enable password cisco123", f"enable password {M}"),
    ("ios", "username admin privilege 15 secret 9 $9$abcdEFGH$ijklMNOPqrstUVWX",
     f"username admin privilege 15 secret 9 {M}"),
    ("ios", "username ops privilege 15 password 0 Cl3arText!", f"username ops privilege 15 password 0 {M}"),
    ("iosxe", "username netops algorithm-type scrypt secret 9 $9$2MJBozw/9hS1jk$QpT",
     f"username netops algorithm-type scrypt secret 9 {M}"),
    ("ios", " password 7 045802150C2E", f" password 7 {M}"),
    ("ios", "snmp-server community PUBLIC-RO RO 10", f"snmp-server community {M} RO 10"),
    ("ios", "snmp-server community s3cr3tRW RW SNMP-ACL", f"snmp-server community {M} RW SNMP-ACL"),
    ("ios", "snmp-server user u1 g1 v3 auth sha AuthPass123 priv aes 128 PrivPass456",
     f"snmp-server user u1 g1 v3 auth sha {M} priv aes 128 {M}"),
    ("ios", "snmp-server user u2 g1 v3 auth md5 AuthPass123 priv des PrivPass456 access 99",
     f"snmp-server user u2 g1 v3 auth md5 {M} priv des {M} access 99"),
    ("iosxe", "snmp-server user u3 g3 v3 auth sha AuthOnly1", f"snmp-server user u3 g3 v3 auth sha {M}"),
    ("ios", "snmp-server host 192.0.2.5 version 2c C0mmStr", f"snmp-server host 192.0.2.5 version 2c {M}"),
    ("ios", "snmp-server host 192.0.2.6 informs version 2c TrapComm udp-port 162",
     f"snmp-server host 192.0.2.6 informs version 2c {M} udp-port 162"),
    ("ios", "tacacs-server key 7 0822455D0A16", f"tacacs-server key 7 {M}"),
    ("ios", "tacacs-server host 192.0.2.10 key TacKey99", f"tacacs-server host 192.0.2.10 key {M}"),
    ("iosxe", " key 7 107D580E0A1C", f" key 7 {M}"),
    ("iosxe", " key SharedTac", f" key {M}"),
    ("ios", "radius-server key SuperSecret", f"radius-server key {M}"),
    ("ios", "radius-server host 192.0.2.11 auth-port 1645 acct-port 1646 key 7 0802455D0A16",
     f"radius-server host 192.0.2.11 auth-port 1645 acct-port 1646 key 7 {M}"),
    ("ios", " neighbor 192.0.2.1 password 7 121A0C0411045D5679", f" neighbor 192.0.2.1 password 7 {M}"),
    ("ios", " neighbor PEERS password BgpPlain", f" neighbor PEERS password {M}"),
    ("ios", " ip ospf authentication-key 7 0822455D0A16", f" ip ospf authentication-key 7 {M}"),
    ("ios", " ip ospf message-digest-key 1 md5 7 0822455D0A16", f" ip ospf message-digest-key 1 md5 7 {M}"),
    ("ios", " ip ospf message-digest-key 2 md5 OspfPlain", f" ip ospf message-digest-key 2 md5 {M}"),
    ("ios", " isis password IsisPw level-2", f" isis password {M} level-2"),
    ("ios", " area-password AreaPw", f" area-password {M}"),
    ("ios", " domain-password DomPw", f" domain-password {M}"),
    ("ios", "  key-string 7 0822455D0A16", f"  key-string 7 {M}"),
    ("ios", "  key-string EigrpKey", f"  key-string {M}"),
    ("ios", " standby 1 authentication md5 key-string 7 1511021F0725", f" standby 1 authentication md5 key-string 7 {M}"),
    ("ios", " standby 1 authentication HsrpPw", f" standby 1 authentication {M}"),
    ("ios", " vrrp 1 authentication text VrrpPw", f" vrrp 1 authentication text {M}"),
    ("ios", "crypto isakmp key 6 IsakmpKey address 192.0.2.1", f"crypto isakmp key 6 {M} address 192.0.2.1"),
    ("ios", "crypto isakmp key cisco123 address 0.0.0.0 0.0.0.0", f"crypto isakmp key {M} address 0.0.0.0 0.0.0.0"),
    ("ios", " pre-shared-key address 192.0.2.1 key KeyringPsk", f" pre-shared-key address 192.0.2.1 key {M}"),
    ("iosxe", "  pre-shared-key local 6 LocalPsk", f"  pre-shared-key local 6 {M}"),
    ("iosxe", "  pre-shared-key remote RemotePsk", f"  pre-shared-key remote {M}"),
    ("iosxe", "  pre-shared-key Ikev2Psk", f"  pre-shared-key {M}"),
    ("ios", "  wpa-psk ascii 0 MyWifiKey1", f"  wpa-psk ascii 0 {M}"),
    ("iosxe", " security wpa psk set-key ascii 0 Wlc9800Key 1", f" security wpa psk set-key ascii 0 {M} 1"),
    ("ios", "ntp authentication-key 1 md5 0822455D0A16 7", f"ntp authentication-key 1 md5 {M} 7"),
    ("ios", " ppp chap password 7 13061E010803", f" ppp chap password 7 {M}"),
    ("asa", " ikev1 pre-shared-key AsaPsk", f" ikev1 pre-shared-key {M}"),
    # rollback and replace lines negate a secret line: the secret is still in them
    ("ios", "no snmp-server community OldComm RO", f"no snmp-server community {M} RO"),
    ("ios", "no tacacs-server key 7 0822455D0A16", f"no tacacs-server key 7 {M}"),
    ("ios", "no username ops privilege 15 secret 0 Gone", f"no username ops privilege 15 secret 0 {M}"),
    ("ios", "  no key 7 0822455D0A16", f"  no key 7 {M}"),
    ("ios", "no snmp-server user u1 g1 v3 auth sha AuthPass123 priv aes 128 PrivPass456",
     f"no snmp-server user u1 g1 v3 auth sha {M} priv aes 128 {M}"),
    ("junos", "delete snmp community OldJunos", f"delete snmp community {M}"),
    # --- Cisco NX-OS ---------------------------------------------------------------------
    ("nxos", "username admin password 5 $5$KLMNOP$Qrstuvw  role network-admin",
     f"username admin password 5 {M}  role network-admin"),
    ("nxos", "snmp-server user admin network-admin auth md5 0x3ba5c9b7f5ea1a1 priv 0x3ba5c9b7f5ea1a1 localizedkey",
     f"snmp-server user admin network-admin auth md5 {M} priv {M} localizedkey"),
    ("nxos", "snmp-server user u2 network-operator auth sha AuthPass12 priv aes-128 PrivPass34",
     f"snmp-server user u2 network-operator auth sha {M} priv aes-128 {M}"),
    ("nxos", "snmp-server community NxComm group network-operator", f"snmp-server community {M} group network-operator"),
    ("nxos", "snmp-server host 192.0.2.7 traps version 2c NxTrap udp-port 162",
     f"snmp-server host 192.0.2.7 traps version 2c {M} udp-port 162"),
    ("nxos", 'tacacs-server key 7 "wawy1234"', f"tacacs-server key 7 {M}"),
    ("nxos", 'tacacs-server host 192.0.2.12 key 7 "fewhg123"', f"tacacs-server host 192.0.2.12 key 7 {M}"),
    ("nxos", 'radius-server host 192.0.2.13 key 7 "Rad1us" authentication accounting',
     f"radius-server host 192.0.2.13 key 7 {M} authentication accounting"),
    ("nxos", "    password 3 0x1234abcd5678ef", f"    password 3 {M}"),
    ("nxos", "  ip ospf authentication-key 3 a667d47acc18ea6b", f"  ip ospf authentication-key 3 {M}"),
    ("nxos", "  ip ospf message-digest-key 1 md5 3 a667d47acc18ea6b", f"  ip ospf message-digest-key 1 md5 3 {M}"),
    ("nxos", "    key-string 7 070c285f4d06", f"    key-string 7 {M}"),
    ("nxos", "    authentication md5 key-string HsrpMd5", f"    authentication md5 key-string {M}"),
    ("nxos", "    authentication text NxVrrp", f"    authentication text {M}"),
    ("nxos", "ntp authentication-key 1 md5 NtpNxos 7", f"ntp authentication-key 1 md5 {M} 7"),
    # --- Arista EOS ----------------------------------------------------------------------
    ("eos", "enable password sha512 $6$Iv4ZlJ7XDNsV8EoD$Aq0fLxLUJm1sc3", f"enable password sha512 {M}"),
    ("eos", "username admin privilege 15 role network-admin secret sha512 $6$abc$def",
     f"username admin privilege 15 role network-admin secret sha512 {M}"),
    ("eos", "username ops secret 0 EosPlain", f"username ops secret 0 {M}"),
    ("eos", "snmp-server community EosComm ro", f"snmp-server community {M} ro"),
    ("eos", "snmp-server user u1 g1 v3 auth sha AuthPass123 priv aes PrivPass456",
     f"snmp-server user u1 g1 v3 auth sha {M} priv aes {M}"),
    ("eos", "snmp-server user u1 g1 v3 localized 800000020300000c29e5a4b1 auth sha 0x4f1a priv aes 0x9b2c",
     f"snmp-server user u1 g1 v3 localized 800000020300000c29e5a4b1 auth sha {M} priv aes {M}"),
    ("eos", "tacacs-server key 7 070E33455D1D18", f"tacacs-server key 7 {M}"),
    ("eos", "tacacs-server host 192.0.2.14 vrf MGMT key 7 070E33455D1D18",
     f"tacacs-server host 192.0.2.14 vrf MGMT key 7 {M}"),
    ("eos", "radius-server host 192.0.2.15 key 7 0207165218120E", f"radius-server host 192.0.2.15 key 7 {M}"),
    ("eos", "   neighbor 192.0.2.1 password 7 Jkl0SlW7Ssc0wpd1ZrIbZQ==", f"   neighbor 192.0.2.1 password 7 {M}"),
    ("eos", "   ip ospf message-digest-key 1 sha256 7 tuWGmFR2CbM=", f"   ip ospf message-digest-key 1 sha256 7 {M}"),
    ("eos", "   ip ospf authentication-key 7 tuWGmFR2CbM=", f"   ip ospf authentication-key 7 {M}"),
    ("eos", "   isis authentication key 7 Jkl0SlW7Ssc=", f"   isis authentication key 7 {M}"),
    ("eos", "   authentication key 0 IsisEos level-2", f"   authentication key 0 {M} level-2"),
    ("eos", "ntp authentication-key 1 md5 7 0455B1A0B34", f"ntp authentication-key 1 md5 7 {M}"),
    # --- Cisco IOS-XR --------------------------------------------------------------------
    ("iosxr", " secret 10 $6$Yb8M5/pYkYq5/M5.$yWKyNFk5ZJ", f" secret 10 {M}"),
    ("iosxr", " password 7 13061E010803", f" password 7 {M}"),
    ("iosxr", "snmp-server community XrComm RO SystemOwner", f"snmp-server community {M} RO SystemOwner"),
    ("iosxr", "snmp-server user u1 g1 v3 auth sha encrypted 1411170F0B priv aes 128 encrypted 0822455D",
     f"snmp-server user u1 g1 v3 auth sha encrypted {M} priv aes 128 encrypted {M}"),
    ("iosxr", "snmp-server host 192.0.2.8 traps version 2c XrTrap", f"snmp-server host 192.0.2.8 traps version 2c {M}"),
    ("iosxr", " key 7 0822455D0A16", f" key 7 {M}"),
    ("iosxr", "  password encrypted 0822455D0A16", f"  password encrypted {M}"),
    ("iosxr", "  authentication-key encrypted 0822455D0A16", f"  authentication-key encrypted {M}"),
    ("iosxr", "  message-digest-key 1 md5 encrypted 0822455D0A16", f"  message-digest-key 1 md5 encrypted {M}"),
    ("iosxr", " lsp-password hmac-md5 encrypted 0822455D0A16", f" lsp-password hmac-md5 encrypted {M}"),
    ("iosxr", "  hello-password text clear IsisHello", f"  hello-password text clear {M}"),
    ("iosxr", "  key-string password 0822455D0A16", f"  key-string password {M}"),
    ("iosxr", "  pre-shared-key password 0822455D0A16", f"  pre-shared-key password {M}"),
    ("iosxr", "ntp authentication-key 1 md5 encrypted 0822455D0A16", f"ntp authentication-key 1 md5 encrypted {M}"),
    # --- Juniper Junos (curly and set) ---------------------------------------------------
    ("junos", '        encrypted-password "$6$x9Yq$Vs3bgi/lxD"; ## SECRET-DATA',
     f"        encrypted-password {M}; ## SECRET-DATA"),
    ("junos", '    authentication-key "$9$dVwgJUjHmPQ"; ## SECRET-DATA', f"    authentication-key {M}; ## SECRET-DATA"),
    ("junos", '        secret "$9$Ab1CdEf"; ## SECRET-DATA', f"        secret {M}; ## SECRET-DATA"),
    ("junos", '            ascii-text "$9$PSKpsk"; ## SECRET-DATA', f"            ascii-text {M}; ## SECRET-DATA"),
    ("junos", 'set system root-authentication encrypted-password "$6$x9Yq$Vs3bgi/lxD"',
     f"set system root-authentication encrypted-password {M}"),
    ("junos", 'set system login user admin authentication encrypted-password "$6$abc$def"',
     f"set system login user admin authentication encrypted-password {M}"),
    ("junos", "set snmp community JunosComm authorization read-only",
     f"set snmp community {M} authorization read-only"),
    ("junos", 'set protocols bgp group EXT authentication-key "$9$BgpKey"',
     f"set protocols bgp group EXT authentication-key {M}"),
    ("junos", 'set protocols ospf area 0.0.0.0 interface ge-0/0/0.0 authentication md5 1 key "$9$OspfK"',
     f"set protocols ospf area 0.0.0.0 interface ge-0/0/0.0 authentication md5 1 key {M}"),
    ("junos", 'set protocols isis level 2 authentication-key "$9$IsisK"',
     f"set protocols isis level 2 authentication-key {M}"),
    ("junos", 'set security ike policy P1 pre-shared-key ascii-text "$9$IkePsk"',
     f"set security ike policy P1 pre-shared-key ascii-text {M}"),
    ("junos", 'set system ntp authentication-key 1 type md5 value "$9$NtpK"',
     f"set system ntp authentication-key 1 type md5 value {M}"),
    ("junos", 'set system radius-server 192.0.2.16 secret "$9$RadK"', f"set system radius-server 192.0.2.16 secret {M}"),
    ("junos", 'set system tacplus-server 192.0.2.17 secret "$9$TacK"', f"set system tacplus-server 192.0.2.17 secret {M}"),
    ("junos", 'set snmp v3 usm local-engine user u1 authentication-sha authentication-key "$9$UsmA"',
     f"set snmp v3 usm local-engine user u1 authentication-sha authentication-key {M}"),
    ("junos", 'set snmp v3 usm local-engine user u1 privacy-aes128 privacy-key "$9$UsmP"',
     f"set snmp v3 usm local-engine user u1 privacy-aes128 privacy-key {M}"),
]

PLAIN_LINES: list[tuple[str, str]] = [
    ("ios", "crypto key generate rsa modulus 2048"),
    ("ios", "crypto key zeroize rsa"),
    ("ios", "crypto pki trustpoint TP-self-signed-1234"),
    ("ios", "key chain EIGRP-KEYS"),
    ("ios", " key 1"),
    ("ios", " key 7"),
    ("ios", " ip authentication key-chain eigrp 100 EIGRP-KEYS"),
    ("ios", " ip authentication mode eigrp 100 md5"),
    ("ios", " authentication key-chain EIGRP-KEYS"),
    ("ios", " ip ospf authentication message-digest"),
    ("ios", "ntp authenticate"),
    ("ios", "ntp trusted-key 1"),
    ("ios", "service password-encryption"),
    ("ios", "no service password-recovery"),
    ("ios", "security passwords min-length 8"),
    ("iosxe", "password encryption aes"),
    ("ios", "aaa authentication login default group tacacs+ local"),
    ("ios", "aaa new-model"),
    ("ios", "username bob nopassword"),
    ("ios", "snmp-server group g1 v3 priv read V1"),
    ("ios", "snmp-server host 192.0.2.9 version 3 priv u1"),
    ("ios", "snmp-server enable traps snmp authentication linkdown linkup"),
    ("ios", " neighbor 192.0.2.2 send-community both"),
    ("ios", " set community 65000:100 additive"),
    ("ios", "ip community-list standard CL permit 65000:100"),
    ("ios", " description password reset VLAN, key server room"),
    ("ios", " remark permit secret lab"),
    ("ios", " authentication key-management wpa version 2"),
    ("ios", "interface GigabitEthernet1"),
    ("ios", " ip address 10.0.0.1 255.255.255.0"),
    ("ios", "tacacs server TAC1"),
    ("ios", " address ipv4 192.0.2.10"),
    ("ios", "radius server RAD1"),
    ("ios", "ip ssh pubkey-chain"),
    ("nxos", "feature tacacs+"),
    ("nxos", "  isis authentication key-chain KC level-1"),
    ("nxos", "  ip ospf authentication message-digest"),
    ("eos", "management api http-commands"),
    ("eos", "aaa authorization exec default local"),
    ("eos", "   isis authentication mode md5"),
    ("iosxr", "key chain ISIS-KC"),
    ("iosxr", " key 1"),
    ("iosxr", "  cryptographic-algorithm HMAC-MD5"),
    ("iosxr", " lsp-password keychain ISIS-KC"),
    ("junos", "set policy-options community BLACKHOLE members 65535:666"),
    ("junos", "    community NO-EXPORT members no-export;"),
    ("junos", "set system login password minimum-length 8"),
    ("junos", "set system login password format sha512"),
    ("junos", 'set interfaces ge-0/0/0 description "password reset VLAN"'),
    ("junos", "set system login user admin class super-user"),
    ("junos", "set protocols ospf area 0.0.0.0 interface ge-0/0/0.0 authentication md5 1"),
]


@pytest.mark.parametrize(("platform", "line", "masked"), SECRET_LINES, ids=[f"{p}:{line.strip()[:40]}" for p, line, _ in SECRET_LINES])
def test_secret_lines_lose_only_the_secret_token(platform: str, line: str, masked: str) -> None:
    assert mask_secrets(line) == masked
    assert mask_secrets(masked) == masked  # masking twice (a diff, then the result tree) changes nothing


@pytest.mark.parametrize(("platform", "line"), PLAIN_LINES, ids=[f"{p}:{line.strip()[:40]}" for p, line in PLAIN_LINES])
def test_plain_lines_are_left_exactly_as_they_are(platform: str, line: str) -> None:
    assert mask_secrets(line) == line


def test_every_platform_in_the_corpus_has_rules() -> None:
    platforms = {p for p, _, _ in SECRET_LINES} - {"asa"}
    covered = {p for rule in SECRET_RULES for p in rule.platforms}
    assert platforms <= covered


def test_junos_snmp_block_community_is_masked_only_inside_snmp() -> None:
    config = (
        "snmp {\n    community Publ1c {\n        authorization read-only;\n    }\n}\n"
        "policy-options {\n    community Publ1c members 65000:1;\n}\n"
    )
    masked = mask_secrets(config)
    assert masked.splitlines()[1] == f"    community {M} {{"
    assert masked.splitlines()[6] == "    community Publ1c members 65000:1;"


def test_a_unified_diff_keeps_its_markers_and_context() -> None:
    diff = (
        "--- r1 (current)\n+++ r1 (candidate)\n@@ -1,3 +1,3 @@\n"
        " hostname r1\n-snmp-server community OldComm RO\n+snmp-server community NewComm RO\n"
        "-tacacs server T\n+ key 7 0822455D0A16\n"
    )
    masked = mask_secrets(diff)
    assert "OldComm" not in masked and "NewComm" not in masked and "0822455D0A16" not in masked
    assert f"-snmp-server community {M} RO" in masked.splitlines()
    assert f"+ key 7 {M}" in masked.splitlines()
    assert masked.splitlines()[:4] == diff.splitlines()[:4]


def test_xml_secrets_stay_well_formed() -> None:
    xml = "<user><name>admin</name><encrypted-password>$6$abc</encrypted-password><password>pw</password></user>"
    masked = mask_secrets(xml)
    assert "$6$abc" not in masked and ">pw<" not in masked
    assert "<name>admin</name>" in masked
    assert "<encrypted-password>***</encrypted-password>" in masked


def test_text_without_secrets_is_returned_as_is() -> None:
    text = "interface Ethernet1\n   description uplink\n   ip address 10.0.0.2/24\n"
    assert mask_secrets(text) is text


def test_logging_filter_masks_records_of_the_logger_it_is_on(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from genja_prefect.masking import mask_logger

    log = logging.getLogger("genja_test_masking.cli")
    mask_logger(log)
    mask_logger(log)  # once is enough: not twice in the filters
    assert len(log.filters) == 1
    with caplog.at_level(logging.DEBUG, logger="genja_test_masking.cli"):
        log.debug("sendInput: input %r", "snmp-server community Sup3rComm RO")
        log.debug("plain %s", "interface Ethernet1")
    assert "Sup3rComm" not in caplog.text and "community <removed> RO" in caplog.text
    assert "plain interface Ethernet1" in caplog.text
