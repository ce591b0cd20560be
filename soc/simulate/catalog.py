"""The table of scenarios: name -> generator, the detectors that must fire, placement.

Every shipped detector appears in at least one scenario's ``detectors`` (a test checks
this), so each has an attack it must find and a near miss it must ignore.
"""

from __future__ import annotations

from datetime import timedelta

from soc.simulate import scenarios_auth as auth
from soc.simulate import scenarios_network as net
from soc.simulate.scenarios import Scenario

__all__ = ["SCENARIOS"]


SCENARIOS: dict[str, Scenario] = {
    "failed-login-burst": Scenario(auth.failed_login_burst, ("failed-login-burst",)),
    "failed-login-burst-source": Scenario(
        auth.failed_login_burst_source,
        ("failed-login-burst-source", "vpn-logon-failures"),
        near_miss_fires=("vpn-logon-failures",),  # 80 VPN failures in 6 minutes are still a burst
    ),
    "password-spray": Scenario(auth.password_spray, ("password-spray",)),
    "password-spray-workstation": Scenario(auth.password_spray_workstation, ("password-spray-workstation",)),
    "failed-login-burst-workstation": Scenario(
        auth.failed_login_burst_workstation, ("failed-login-burst-workstation",)
    ),
    "password-spray-success": Scenario(
        auth.password_spray_success, ("password-spray", "password-spray-success", "vpn-logon-failures")
    ),
    "kerberos-preauth-spray": Scenario(auth.kerberos_preauth_spray, ("kerberos-preauth-spray",)),
    "kerberos-brute-force": Scenario(auth.kerberos_brute_force, ("kerberos-brute-force",)),
    "ntlm-failures-dc": Scenario(auth.ntlm_failures_dc, ("ntlm-failures-dc", "failed-login-burst-workstation")),
    "account-lockout-storm": Scenario(auth.account_lockout_storm, ("account-lockout-storm",)),
    "brute-force-success": Scenario(
        auth.brute_force_success,
        ("failed-login-burst", "brute-force-success", "vpn-logon-abroad", "new-country-logon", "vpn-logon-failures"),
        exclusive=False,
    ),
    "privileged-logon-off-hours": Scenario(
        auth.privileged_logon_off_hours, ("privileged-logon-off-hours",), exclusive=False
    ),
    "new-country-logon": Scenario(auth.new_country_logon, ("new-country-logon",), exclusive=False),
    "new-host-logon": Scenario(auth.new_host_logon, ("new-host-logon",), exclusive=False),
    "impossible-travel": Scenario(auth.impossible_travel, ("impossible-travel", "new-country-logon"), exclusive=False),
    "vpn-logon-abroad": Scenario(auth.vpn_logon_abroad, ("vpn-logon-abroad", "new-country-logon"), exclusive=False),
    "vpn-password-spray": Scenario(auth.vpn_password_spray, ("vpn-logon-failures",)),
    "m365-signin-spray": Scenario(auth.m365_signin_spray, ("m365-signin-spray",)),
    "auth-failure-surge": Scenario(auth.auth_failure_surge, ("auth-failure-surge",)),
    "lateral-fan-out": Scenario(auth.lateral_fan_out, ("lateral-fan-out",)),
    "failed-login-unknown-account": Scenario(auth.failed_login_unknown_account, ("failed-login-unknown-account",)),
    "ssh-brute-force": Scenario(auth.ssh_brute_force, ("ssh-brute-force",)),
    "ssh-brute-force-host-name": Scenario(auth.ssh_brute_force_host_name, ("ssh-brute-force-host-name",)),
    "ssh-protocol-probing": Scenario(auth.ssh_protocol_probing, ("ssh-protocol-probing",)),
    "ssh-slow-user-enumeration": Scenario(
        auth.ssh_slow_user_enumeration, ("ssh-slow-user-enumeration",), span=timedelta(hours=2), exclusive=False
    ),
    "port-scan": Scenario(net.port_scan, ("port-scan", "slow-port-scan", "port-scan-burst")),
    "port-scan-burst": Scenario(net.port_scan_burst, ("port-scan-burst",)),
    "slow-port-scan": Scenario(
        net.slow_port_scan, ("slow-port-scan",), span=timedelta(hours=4, minutes=5), exclusive=False
    ),
    "host-sweep": Scenario(net.host_sweep, ("host-sweep", "host-sweep-unanswered")),
    "host-sweep-internet": Scenario(net.host_sweep_internet, ("host-sweep", "host-sweep-unanswered")),
    "lateral-movement-network": Scenario(net.lateral_movement_network, ("lateral-movement-network",)),
    "beaconing": Scenario(net.beaconing, ("beaconing",), span=timedelta(minutes=105), exclusive=False),
    "beaconing-proxy": Scenario(
        net.beaconing_proxy, ("beaconing-proxy", "beaconing-tls"), span=timedelta(hours=6, minutes=5), exclusive=False
    ),
    "large-outbound-transfer": Scenario(net.large_outbound_transfer, ("large-outbound-transfer",)),
    "dns-tunnelling": Scenario(net.dns_tunnelling, ("dns-tunnelling", "dns-long-names")),
    "dns-txt-c2": Scenario(net.dns_txt_c2, ("dns-txt-volume",)),
    "dns-long-names": Scenario(net.dns_long_names, ("dns-long-names",)),
    "mynumber-to-internet": Scenario(net.mynumber_to_internet, ("mynumber-to-internet",)),
    "lgwan-to-internet": Scenario(net.lgwan_to_internet, ("lgwan-to-internet",)),
    "silent-log-source": Scenario(net.silent_log_source, ("silent-log-source",), exclusive=False),
}
