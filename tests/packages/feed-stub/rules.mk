# Stand-in for an OpenWrt buildroot's rules.mk: only what net/meshchat/Makefile uses,
# with OpenWrt's values (from the buildroot's own rules.mk).
INCLUDE_DIR:=$(TOPDIR)/include
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
LN:=ln -sf
