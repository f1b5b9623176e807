# Policy routing installed by `l7proxy redirect install` (defaults).
ip -4 rule add fwmark 0x111/0xfff lookup 133 pref 32764
ip -4 route replace local 0.0.0.0/0 dev lo table 133
ip -6 rule add fwmark 0x111/0xfff lookup 133 pref 32764
ip -6 route replace local ::/0 dev lo table 133
