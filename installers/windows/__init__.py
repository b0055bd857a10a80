"""The Windows MSI (wixl + msibuild from msitools) and Authenticode signing (osslsigncode)."""
