# Loads net/meshchat/Makefile in the stand-in buildroot and runs its Build/Prepare and
# Package/meshchat/install into DEST; writes its scripts and variables into OUT.
include $(FEED_MAKEFILE)

.PHONY: check
check:
	$(Build/Prepare)
	mkdir -p $(PKG_INSTALL_DIR)/bin
	cp $(BINARY) $(PKG_INSTALL_DIR)/bin/meshchat
	$(call Package/meshchat/install,$(DEST))
	$(file >$(OUT)/preinst,$(Package/meshchat/preinst))
	$(file >$(OUT)/postinst,$(Package/meshchat/postinst))
	$(file >$(OUT)/prerm,$(Package/meshchat/prerm))
	$(file >$(OUT)/postrm,$(Package/meshchat/postrm))
	$(file >$(OUT)/conffiles,$(Package/meshchat/conffiles))
	$(file >$(OUT)/vars,PKG_NAME=$(PKG_NAME) PKG_VERSION=$(PKG_VERSION) PKG_RELEASE=$(PKG_RELEASE) PKG_BUILD_DEPENDS=$(PKG_BUILD_DEPENDS) BUILT=$(strip $(BUILT_PACKAGES)) RUSTBIN=$(strip $(RUST_BIN_PACKAGES)) RUSTFLAGS=$(CARGO_RUSTFLAGS))
