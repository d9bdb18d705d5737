# Stand-in for OpenWrt's include/package.mk: the build folders and a BuildPackage that
# records that it was called.
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
PKG_INSTALL_DIR ?= $(PKG_BUILD_DIR)/ipkg-install
BUILT_PACKAGES :=
define BuildPackage
BUILT_PACKAGES += $(1)
endef
