"""Where notifications may go (contract/egress.py)."""
import ipaddress

import pytest

from flowrun.contract.egress import EgressPolicy, carried_ipv4, parse_networks, refusal

DEFAULT = EgressPolicy(api_addresses=frozenset({("10.96.0.1", None), ("10.250.0.1", 6443)}))


@pytest.mark.parametrize("ip,port", [
    ("127.0.0.1", 80), ("127.1.2.3", 8080), ("::1", 80), ("::ffff:127.0.0.1", 80),  # loopback
    ("169.254.169.254", 80), ("fe80::1", 80), ("fe80::1%eth0", 80),  # link-local: cloud metadata
    ("0.0.0.0", 80), ("::", 80), ("224.0.0.1", 80), ("255.255.255.255", 80),
    ("10.96.0.1", 443), ("10.96.0.1", 80),  # the kubernetes Service: any port
    ("10.250.0.1", 6443),  # an API server endpoint
    ("not-an-ip", 80),
])
def test_refused_by_default(ip, port):
    assert refusal(DEFAULT, ip, port)


@pytest.mark.parametrize("ip,port", [("93.184.216.34", 443), ("10.1.2.3", 8080), ("10.250.0.1", 8080),
                                     ("2001:db8::1", 443)])
def test_allowed_by_default(ip, port):
    assert refusal(DEFAULT, ip, port) is None


def test_deny_further_ranges():
    policy = EgressPolicy(deny=parse_networks("10.0.0.0/8, 192.168.0.0/16"))
    assert refusal(policy, "10.1.2.3", 80) and refusal(policy, "192.168.1.1", 80)
    assert refusal(policy, "93.184.216.34", 80) is None


def test_allow_only_listed_and_the_builtins_still_apply():
    policy = EgressPolicy(allow=parse_networks(["203.0.113.0/24", "0.0.0.0/0"]),
                          api_addresses=frozenset({("203.0.113.5", None)}))
    assert refusal(policy, "203.0.113.9", 443) is None
    assert refusal(policy, "127.0.0.1", 80)  # 0.0.0.0/0 does not name loopback
    assert refusal(policy, "203.0.113.5", 443)  # the API server, whatever is allowed
    only = EgressPolicy(allow=parse_networks("203.0.113.0/24"))
    assert refusal(only, "198.51.100.1", 443) == "outside notifications.egress.allow"


def test_a_loopback_receiver_allowed_by_name():
    policy = EgressPolicy(allow=parse_networks("127.0.0.1/32"))
    assert refusal(policy, "127.0.0.1", 8080) is None
    assert refusal(policy, "127.0.0.2", 8080)


def test_parse_errors_name_the_range():
    with pytest.raises(ValueError, match="'10.0.0.0/33'"):
        parse_networks("10.0.0.0/8,10.0.0.0/33")


@pytest.mark.parametrize("ip, says", [
    ("127.0.0.1%eth0", "in 127.0.0.0/8 (loopback, link-local, unspecified or multicast)"),
    ("127.0.0.1%a%b", "in 127.0.0.0/8 (loopback, link-local, unspecified or multicast)"),
    ("fe80::1%", "in fe80::/10 (loopback, link-local, unspecified or multicast)"),
    ("not-an-ip", "not an IP address"),
    ("10.96.0.1", "an address of the Kubernetes API server"),
])
def test_an_address_is_judged_without_its_zone_and_the_reason_is_exact(ip, says):
    """Everything after the first `%` (an interface zone) is not part of the address: a
    loopback address with a zone is still loopback."""
    assert refusal(DEFAULT, ip, 80) == says


def test_parsing_skips_empty_items_and_takes_host_bits_as_their_range():
    assert parse_networks("10.0.0.1/8, ,192.168.0.0/16,") == parse_networks(["10.0.0.0/8", "192.168.0.0/16"])
    assert [str(n) for n in parse_networks(["10.0.0.1/8", ""])] == ["10.0.0.0/8"]


@pytest.mark.parametrize("allow, ip, says", [
    (["0.0.0.0/0"], "8.8.8.8", "outside notifications.egress.allow"),  # "everything" names nothing
    (["0.0.0.0/1"], "8.8.8.8", None),
    (["127.0.0.0/8"], "127.0.0.1", None),  # the built-in range named as a whole
    (["0.0.0.0/1", "10.1.2.3/32"], "127.0.0.1", "in 127.0.0.0/8 (loopback, link-local, unspecified or multicast)"),
])
def test_an_allow_list_lifts_a_builtin_refusal_only_with_a_range_as_narrow_that_holds_the_address(allow, ip, says):
    """A built-in refusal is lifted only by an allowed range that contains the address
    and is at least as narrow as the built-in range; a narrow range elsewhere lifts
    nothing, and 0.0.0.0/0 does not count as naming anything."""
    assert refusal(EgressPolicy(allow=parse_networks(allow)), ip, 80) == says


@pytest.mark.parametrize("ip, says", [
    ("fd00:ec2::254", "in fd00:ec2::254/128 (a cloud metadata service)"),  # AWS IMDS over IPv6
    ("100.100.100.200", "in 100.100.100.200/32 (a cloud metadata service)"),  # Alibaba
    ("192.0.0.192", "in 192.0.0.192/32 (a cloud metadata service)"),  # Oracle
    ("168.63.129.16", "in 168.63.129.16/32 (a cloud metadata service)"),  # Azure WireServer
    ("::ffff:100.100.100.200", "carries 100.100.100.200: in 100.100.100.200/32 (a cloud metadata service)"),
])
def test_cloud_metadata_services_outside_link_local_are_refused(ip, says):
    assert refusal(DEFAULT, ip, 80) == says


LINK_LOCAL = "in 169.254.0.0/16 (loopback, link-local, unspecified or multicast)"
LOOPBACK = "in 127.0.0.0/8 (loopback, link-local, unspecified or multicast)"


@pytest.mark.parametrize("ip, says", [
    ("64:ff9b::169.254.169.254", f"carries 169.254.169.254: {LINK_LOCAL}"),  # NAT64
    ("64:ff9b::a9fe:a9fe", f"carries 169.254.169.254: {LINK_LOCAL}"),
    ("64:ff9b::127.0.0.1", f"carries 127.0.0.1: {LOOPBACK}"),
    ("2002:a9fe:a9fe::", f"carries 169.254.169.254: {LINK_LOCAL}"),  # 6to4
    ("2002:a9fe:a9fe:1::2", f"carries 169.254.169.254: {LINK_LOCAL}"),
    ("2002:7f00:1::", f"carries 127.0.0.1: {LOOPBACK}"),
    ("::ffff:169.254.169.254", f"carries 169.254.169.254: {LINK_LOCAL}"),  # IPv4-mapped
    ("::ffff:a9fe:a9fe", f"carries 169.254.169.254: {LINK_LOCAL}"),
    ("::ffff:127.0.0.1", f"carries 127.0.0.1: {LOOPBACK}"),
    ("::ffff:0:127.0.0.1", f"carries 127.0.0.1: {LOOPBACK}"),  # IPv4-translated
    ("::169.254.169.254", f"carries 169.254.169.254: {LINK_LOCAL}"),  # IPv4-compatible
    ("::127.0.0.1", f"carries 127.0.0.1: {LOOPBACK}"),
    ("64:ff9b::10.96.0.1", "carries 10.96.0.1: an address of the Kubernetes API server"),
    ("::ffff:10.250.0.1", "carries 10.250.0.1: an address of the Kubernetes API server"),  # at 6443
])
def test_an_ipv6_address_that_carries_an_ipv4_one_is_judged_as_that_ipv4(ip, says):
    assert refusal(DEFAULT, ip, 6443) == says


def test_an_embedded_address_meets_the_deny_and_allow_lists_as_ipv4_and_its_ipv6_form_the_deny_list():
    deny = EgressPolicy(deny=parse_networks("10.0.0.0/8"))
    assert refusal(deny, "64:ff9b::10.1.2.3", 80) == "carries 10.1.2.3: in 10.0.0.0/8 (notifications.egress.deny)"
    assert refusal(EgressPolicy(deny=parse_networks("64:ff9b::/96")), "64:ff9b::93.184.216.34", 80) == \
        "in 64:ff9b::/96 (notifications.egress.deny)"
    only = EgressPolicy(allow=parse_networks("203.0.113.0/24"))
    assert refusal(only, "64:ff9b::203.0.113.9", 443) is None
    assert refusal(only, "64:ff9b::198.51.100.1", 443) == "carries 198.51.100.1: outside notifications.egress.allow"


@pytest.mark.parametrize("ip", ["64:ff9b::93.184.216.34", "2002:5db8:d822::1", "::ffff:93.184.216.34",
                                "2001:db8::a9fe:a9fe", "fd00:ec2::253", "100.100.100.201", "192.0.0.193"])
def test_public_addresses_in_any_form_and_neighbours_of_metadata_services_stay_allowed(ip):
    assert refusal(DEFAULT, ip, 443) is None


@pytest.mark.parametrize("ip, says", [
    ("::1", "in ::1/128 (loopback, link-local, unspecified or multicast)"),
    ("::", "in ::/128 (loopback, link-local, unspecified or multicast)"),
])
def test_the_ipv6_loopback_and_unspecified_addresses_carry_no_ipv4_one(ip, says):
    """`::1` and `::` lie in ::/96 (IPv4-compatible) but are themselves, not 0.0.0.1 and
    0.0.0.0: refused as what they are."""
    assert carried_ipv4(ipaddress.ip_address(ip)) is None
    assert refusal(DEFAULT, ip, 80) == says


@pytest.mark.parametrize("api, ip", [
    ("::ffff:10.96.0.1", "10.96.0.1"),  # the API server listed in its IPv4-mapped form
    ("64:ff9b::a60:1", "10.96.0.1"),  # ... in its NAT64 form
    ("10.96.0.1", "10.96.0.1"),
])
def test_the_api_server_listed_in_an_ipv6_form_is_refused_at_the_ipv4_address_it_carries(api, ip):
    policy = EgressPolicy(api_addresses=frozenset({(api, None)}))
    assert refusal(policy, ip, 443) == "an address of the Kubernetes API server"
    assert refusal(policy, "10.96.0.2", 443) is None
