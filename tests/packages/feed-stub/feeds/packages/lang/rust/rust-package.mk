# Stand-in for the packages feed's lang/rust/rust-package.mk (+ rust-values.mk): the
# variables and the RustBinPackage macro as defined there.
CARGO_RUSTFLAGS+=-Ctarget-feature=-crt-static
RUST_ARCH_DEPENDS:=@(aarch64||arm||i386||i686||mips||mipsel||mips64||mips64el||mipsel||powerpc64||riscv64||x86_64)
RUST_BIN_PACKAGES :=
define RustBinPackage
  RUST_BIN_PACKAGES += $(1)
  ifndef Package/$(1)/install
    define Package/$(1)/install
	$$(INSTALL_DIR) $$(1)/usr/bin/
	$$(INSTALL_BIN) $$(PKG_INSTALL_DIR)/bin/* $$(1)/usr/bin/
    endef
  endif
endef
