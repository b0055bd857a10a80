"""Every Waymark setting and policy key, declared once.

The settings window builds its fields from this table, the policy readers
accept exactly these keys, and docs/admin-guide.md is generated from it
(`python -m agent.config.options > docs/admin-guide.md`; a test fails when the
committed guide drifts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from agent.config.option_types import (
    AppList,
    Bool,
    Choice,
    Float,
    Int,
    LanguageTag,
    OptionType,
    Text,
    TextList,
    TimeOfDayRange,
)

__all__ = [
    "OPTIONS",
    "OPTIONS_BY_KEY",
    "LockedWhen",
    "Option",
    "Page",
    "admin_guide_markdown",
    "coerce",
]

Page = Literal["coaching", "privacy", "about", "policy"]


@dataclass(frozen=True, slots=True)
class LockedWhen:
    """The option is the organisation's, not the person's, while ``key`` is ``value``;
    the settings window then shows ``shown`` (per language) instead of the value."""

    key: str
    value: Any
    shown: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its type, default, texts, and who may change it.

    ``user_editable`` False means only policy (or the agent itself) sets it;
    ``page`` tells the settings window where to show it ("policy" = not shown).
    ``policy_refuses`` maps values that policy may not set to the reason (the
    value is ignored with a warning); ``locked_when`` makes the option the
    organisation's while another setting has a value.
    """

    key: str
    type: OptionType
    default: Any
    label: Mapping[str, str]
    description: Mapping[str, str]
    page: Page
    user_editable: bool = True
    policy_refuses: Mapping[Any, str] = field(default_factory=dict)
    locked_when: tuple[LockedWhen, ...] = ()
    #: Public MSI property that sets it at install time ("" = none); see installers/windows/msi.py.
    installer_property: str = ""


def _o(
    key: str,
    type_: OptionType,
    default: Any,
    label_en: str,
    label_it: str,
    desc_en: str,
    desc_it: str,
    page: Page,
    *,
    user_editable: bool = True,
    policy_refuses: Mapping[Any, str] | None = None,
    locked_when: tuple[LockedWhen, ...] = (),
    installer_property: str = "",
) -> Option:
    return Option(
        key=key,
        type=type_,
        default=default,
        label={"en": label_en, "it": label_it},
        description={"en": desc_en, "it": desc_it},
        page=page,
        user_editable=user_editable,
        policy_refuses=policy_refuses or {},
        locked_when=locked_when,
        installer_property=installer_property,
    )


_CONSENT_REFUSED: Final = (
    "consent is the person's to give: a policy may only set declined (use telemetry_mode: "
    "org-notice to collect statistics after informing employees)"
)
_CONSENT_IS_THE_ORGANISATIONS: Final = LockedWhen(
    "telemetry_mode",
    "org-notice",
    {
        "en": "Shared: your organisation decided (organisation notice)",
        "it": "Condivise: lo ha deciso la tua organizzazione (avviso)",
    },
)


OPTIONS: Final[tuple[Option, ...]] = (
    _o(
        "coaching_enabled", Bool(), True,
        "Show coaching tips", "Mostra i suggerimenti",
        "When off, Waymark neither matches rules nor shows tips.",
        "Se disattivato, Waymark non valuta regole e non mostra suggerimenti.",
        "coaching",
    ),
    _o(
        "paused_until", Float(), None,
        "Paused until", "In pausa fino a",
        "Set by Pause in the tray menu; empty when coaching runs.",
        "Impostato da Pausa nel menu; vuoto quando i suggerimenti sono attivi.",
        "policy", user_editable=False,
    ),
    _o(
        "notice_seen", Bool(), False,
        "Organisation notice seen", "Avviso dell'organizzazione letto",
        "Set when the person has acknowledged the organisation-notice page.",
        "Impostato quando la persona ha preso visione dell'avviso dell'organizzazione.",
        "policy", user_editable=False,
    ),
    _o(
        "quiet_hours", TimeOfDayRange(), "",
        "Quiet hours", "Ore di silenzio",
        "No tips between these local times, e.g. 12:30-13:30. Empty: none.",
        "Nessun suggerimento tra questi orari locali, es. 12:30-13:30. Vuoto: nessuna.",
        "coaching",
    ),
    _o(
        "never_interrupt", AppList(), [],
        "Never interrupt these apps", "Non interrompere mai queste app",
        "No tip appears while one of these apps is in front. Policy gives OS identifiers "
        "(exe name, bundle id or WM_CLASS) or the pack's app names; the settings window "
        "offers the apps running or recently in front.",
        "Nessun suggerimento mentre una di queste app è in primo piano. La policy indica "
        "identificativi del sistema (nome exe, bundle id o WM_CLASS) o i nomi di app del "
        "pacchetto; la finestra delle impostazioni propone le app aperte di recente.",
        "coaching",
    ),
    _o(
        "toast_position",
        Choice(
            ("bottom-right", "bottom-left", "top-right", "top-left"),
            {
                "bottom-right": {"en": "Bottom right", "it": "In basso a destra"},
                "bottom-left": {"en": "Bottom left", "it": "In basso a sinistra"},
                "top-right": {"en": "Top right", "it": "In alto a destra"},
                "top-left": {"en": "Top left", "it": "In alto a sinistra"},
            },
        ), "bottom-right",
        "Tip position", "Posizione dei suggerimenti",
        "Corner of the screen where tips appear.",
        "Angolo dello schermo in cui compaiono i suggerimenti.",
        "coaching",
    ),
    _o(
        "language", LanguageTag(), "system",
        "Language", "Lingua",
        "Language of the tips (any language the coaching pack has: de-CH falls back to de, "
        "then to the pack's default) and of Waymark itself (English or Italian).",
        "Lingua dei suggerimenti (qualsiasi lingua del pacchetto: de-CH ripiega su de, poi "
        "sulla lingua predefinita del pacchetto) e di Waymark (inglese o italiano).",
        "coaching",
    ),
    _o(
        "consent",
        Choice(
            ("unknown", "granted", "declined"),
            {
                "unknown": {"en": "Not decided", "it": "Non deciso"},
                "granted": {"en": "Yes, share", "it": "Sì, condividi"},
                "declined": {
                    "en": "No, keep on this computer",
                    "it": "No, tieni su questo computer",
                },
            },
            policy_choices=("declined",),
        ), "unknown",
        "Share usage statistics", "Condividi statistiche d'uso",
        "Whether you agreed to send tip statistics (never typed text) to your organisation. "
        "Policy may set only `declined` (no statistics from anyone); a policy `granted` or "
        "`unknown` is ignored with a warning, because consent is the person's to give — use "
        "`telemetry_mode: org-notice` to collect after informing employees. In org-notice "
        "mode the choice is shown locked, as the organisation's.",
        "Se hai accettato di inviare statistiche sui suggerimenti (mai testo digitato) alla "
        "tua organizzazione. La policy può impostare solo `declined`; `granted` o `unknown` "
        "sono ignorati: il consenso lo dà la persona (per raccogliere dopo aver informato "
        "i dipendenti: `telemetry_mode: org-notice`).",
        "privacy",
        policy_refuses={"granted": _CONSENT_REFUSED, "unknown": _CONSENT_REFUSED},
        locked_when=(_CONSENT_IS_THE_ORGANISATIONS,),
    ),
    _o(
        "telemetry_mode",
        Choice(
            ("opt-in", "org-notice"),
        ), "opt-in",
        "Telemetry mode", "Modalità telemetria",
        "opt-in: statistics are sent only after the person agrees. org-notice: the "
        "organisation has informed employees and statistics are sent; the first-run page "
        "is a notice.",
        "opt-in: statistiche inviate solo dopo il consenso. org-notice: l'organizzazione ha "
        "informato i dipendenti e le statistiche sono inviate; la prima pagina è un avviso.",
        "policy", user_editable=False,
    ),
    _o(
        "send_app_names", Bool(), False,
        "Include app names in statistics", "Includi i nomi delle app nelle statistiche",
        "When on, statistics name the logical app (e.g. outlook) a tip was about.",
        "Se attivo, le statistiche indicano l'app logica (es. outlook) del suggerimento.",
        "policy", user_editable=False,
    ),
    _o(
        "allow_quit", Bool(), True,
        "Allow Quit", "Consenti Esci",
        "Show Quit in the tray menu.", "Mostra Esci nel menu.",
        "policy", user_editable=False,
    ),
    _o(
        "server_url", Text(), "",
        "Server", "Server",
        "Waymark server address (https). Empty: no sync, coaching with the built-in pack.",
        "Indirizzo del server Waymark (https). Vuoto: nessuna sincronizzazione.",
        "about", user_editable=False, installer_property="SERVER_URL",
    ),
    _o(
        "enroll_token", Text(), "",
        "Enrollment token", "Token di registrazione",
        "Tenant enrollment token (wme_…) from `waymark-server token enroll`; the agent trades it "
        "once for its own device secret, kept in the OS keyring.",
        "Token di registrazione del tenant (wme_…); l'agente lo scambia una volta con il proprio "
        "segreto, conservato nel portachiavi del sistema.",
        "policy", user_editable=False, installer_property="ENROLL_TOKEN",
    ),
    _o(
        "synced_folder", Text(), "",
        "Synced folder", "Cartella sincronizzata",
        "The folder synced to the cloud (OneDrive's, say); file rules call it `synced`. "
        "Environment variables (%OneDrive%, $HOME) and ~ are expanded. Empty: none.",
        "La cartella sincronizzata con il cloud (quella di OneDrive, ad esempio); le regole "
        "sui file la chiamano `synced`. Le variabili d'ambiente e ~ sono espanse. Vuoto: nessuna.",
        "policy", user_editable=False,
    ),
    _o(
        "organisation", Text(), "",
        "Organisation", "Organizzazione",
        "Name shown beside managed settings (\"Managed by …\").",
        "Nome mostrato accanto alle impostazioni gestite (\"Gestito da …\").",
        "policy", user_editable=False, installer_property="ORGANISATION",
    ),
    _o(
        "groups", TextList(), [],
        "Groups", "Gruppi",
        "Audience groups of this device (rules may target groups).",
        "Gruppi di destinatari di questo dispositivo (le regole possono mirare ai gruppi).",
        "policy", user_editable=False,
    ),
    _o(
        "publisher_keys", TextList(), [],
        "Pinned publisher keys", "Chiavi dell'editore",
        "Ed25519 public keys (base64) that may sign rule packs; at most two for rotation.",
        "Chiavi pubbliche Ed25519 (base64) autorizzate a firmare i pacchetti; al massimo due.",
        "policy", user_editable=False, installer_property="PUBLISHER_KEYS",
    ),
    _o(
        "retention_days", Int(), 30,
        "Keep sent statistics for (days)", "Conserva le statistiche inviate (giorni)",
        "Sent records are deleted from this computer after this many days.",
        "I record inviati sono cancellati da questo computer dopo questi giorni.",
        "policy", user_editable=False,
    ),
)  # fmt: skip

OPTIONS_BY_KEY: Final[Mapping[str, Option]] = {o.key: o for o in OPTIONS}

#: The examples' publisher key: a real Ed25519 key in the form `openssl pkey -pubout`
#: prints (its private half is bytes 0..31, so it signs nothing anyone should trust).
EXAMPLE_PUBLISHER_KEY: Final = "MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
EXAMPLE_ENROLL_TOKEN: Final = "wme_replace-with-the-token-of-waymark-server-token-enroll"


def coerce(option: Option, value: Any) -> Any:
    """Validate ``value`` for ``option`` and return it in its Python type.

    Raises ValueError with a message that names the option and what it takes.
    """
    return option.type.coerce(option.key, value)


def admin_guide_markdown() -> str:
    """docs/admin-guide.md, generated from :data:`OPTIONS`."""
    lines = [
        "# Waymark — admin guide",
        "",
        "<!-- Generated by `python -m agent.config.options`; edit agent/config/options.py. -->",
        "",
        "Waymark reads managed policy before the person's own settings: a key set by",
        "policy wins, and the settings window shows it locked with",
        '"Managed by <organisation>". Precedence: managed policy > the person\'s',
        "settings > built-in defaults.",
        "",
        "## Where policy lives",
        "",
        "| OS | location |",
        "|---|---|",
        "| Windows | Group Policy: `HKLM\\SOFTWARE\\Policies\\Waymark\\Agent`, then "
        "`HKCU\\SOFTWARE\\Policies\\Waymark\\Agent`; then the installer's key "
        "`HKLM\\SOFTWARE\\Waymark\\Agent` (the MSI's properties) |",
        "| macOS | managed preferences domain `org.waymark.agent` (MDM configuration profile) |",
        "| Linux | `/etc/waymark/policy.json` (a JSON object; `WAYMARK_POLICY_FILE` "
        "overrides the path) |",
        "",
        "A key set in several places takes the first of that list: Group Policy",
        "overrides what the installer was given, and both override the person's",
        "settings. Policy changes take effect within a few seconds, without a",
        "restart (a watch on the policy file, `RegNotifyChangeKeyValue` on the",
        "registry keys, a re-read of the managed preferences on macOS); a policy",
        "file that becomes invalid keeps the last good policy in force and says",
        "why in the agent log.",
        "",
        "Registry types: booleans and numbers are `REG_DWORD`, lists `REG_MULTI_SZ`,",
        "text `REG_SZ`. A value of the wrong type is ignored with one warning in the",
        "agent log naming the key and what it takes; the other keys still apply.",
        "",
        "## Keys",
        "",
        "| key | type | default | registry | plist | the person can change it | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in OPTIONS:
        kind = o.type.describe()
        default = "empty" if o.default in ("", [], None) else f"`{o.default}`"
        editable = "yes" if o.user_editable else "no"
        lines.append(
            f"| `{o.key}` | {kind} | {default} | {o.type.registry_type} | {o.type.plist_type} | "
            f"{editable} | "
            f"{o.description['en']} |"
        )
    lines += [
        "",
        "## Consent is the person's",
        "",
        "In `telemetry_mode: opt-in` nothing is sent until the person agrees on the",
        "first-run page. A policy cannot agree for them: `consent: granted` (or",
        "`unknown`) from policy is ignored, with a warning in the log and in",
        "`waymark doctor`, which then exits 1. A policy may set `consent: declined` to",
        "keep statistics off for everyone. To collect statistics without asking, inform",
        "the employees and set `telemetry_mode: org-notice`: the first-run page is then",
        "a notice, and the settings window shows sharing locked as the organisation's",
        "decision, next to what the person can still do (pause, see every record).",
        "",
        "## Installer properties (Windows MSI)",
        "",
        "`msiexec /i waymark-<version>-x64.msi /qn NAME=value …` writes each property given",
        "to `HKLM\\SOFTWARE\\Waymark\\Agent`, under the key's name, as REG_SZ (a list as",
        "values separated by `;`). A property not given writes nothing. An upgrade without",
        "the properties keeps the values given before; an upgrade with one replaces that one.",
        "The agent reads Group Policy first, then this installer key, then the person's",
        "settings. Uninstalling removes the key.",
        "",
        "| property | key | meaning |",
        "|---|---|---|",
        *(
            f"| `{o.installer_property}` | `{o.key}` | {o.description['en']} |"
            for o in OPTIONS
            if o.installer_property
        ),
        "| `BROKER_ENROLL_TOKEN` | — | The enrollment token kept from users instead: "
        "written to `HKLM\\SOFTWARE\\Waymark\\Enrollment` (`Token`), which only SYSTEM "
        "and Administrators may read, with the enrollment broker's scheduled task (see "
        '"Keeping the enrollment token from users"). Give it instead of `ENROLL_TOKEN`. |',
    ]
    lines += [
        "",
        "## Connecting agents to a server",
        "",
        "Set three keys and the agent syncs on its own:",
        "",
        "- `server_url`: the server's https address (plain http only to 127.0.0.1 or",
        "  localhost, for testing). The certificate is checked against the operating",
        "  system's trust store, so a company root installed there (for a",
        "  TLS-inspecting proxy, say) is trusted and nothing else needs setting;",
        "- `enroll_token`: from `waymark-server token enroll TENANT`. On its first round",
        "  the agent trades it for its own device id and secret, which it keeps in the",
        "  OS keyring (Windows Credential Manager, macOS Keychain, a Secret Service such",
        "  as GNOME Keyring on Linux) — never in a file. Without a keyring it does not",
        "  sync and says why (`waymark sync`, the log);",
        "- `publisher_keys`: the public key(s) from `waymark pack keygen`. A pack from",
        "  the server runs only if one of these keys signed it, its version is higher",
        "  than any version this device trusted before, and it has not expired.",
        "",
        "The keyring entry is per server, tenant enrollment (a fingerprint of",
        "`enroll_token`, never the token) and data folder, so two data folders of one",
        "user account are two devices. A new `enroll_token` (another tenant) enrolls",
        "again; removing `enroll_token` after the rollout keeps the device. An entry an",
        "older agent kept under the server address alone is moved to the data folder",
        "that uses it first. `waymark doctor` shows the device of its data folder.",
        "",
        "Every minute the agent sends the statistics waiting in its outbox (batches of",
        "500, gzip; only with the person's consent or under `telemetry_mode:",
        "org-notice`) and every 15 minutes it asks for the pack (a 304 costs one small",
        "request). A server that does not answer is retried after 5 s, 10 s, 20 s …",
        "up to 15 minutes, with jitter, and never sooner than its `Retry-After`;",
        "records wait on disk meanwhile. A device the server no longer knows (401)",
        "enrolls again. `waymark sync` runs one round at once and prints what",
        "happened (`--json` for scripts). A pack given with `waymark run --pack` wins",
        "over the server's.",
        "",
        "## Example: /etc/waymark/policy.json",
        "",
        "```json",
        "{",
        '  "organisation": "Example Corp",',
        '  "telemetry_mode": "opt-in",',
        '  "server_url": "https://waymark.example.com",',
        f'  "enroll_token": "{EXAMPLE_ENROLL_TOKEN}",',
        f'  "publisher_keys": ["{EXAMPLE_PUBLISHER_KEY}"],',
        '  "groups": ["sales"],',
        '  "never_interrupt": ["zoom", "teams-for-linux", "libreoffice-impress"],',
        '  "allow_quit": false',
        "}",
        "```",
        "",
    ]
    # The deployment walk-through is prose: kept as markdown next to this file.
    deployment = Path(__file__).with_name("admin_guide_deployment.md")
    return "\n".join(lines) + "\n" + deployment.read_text(encoding="utf-8")


if __name__ == "__main__":
    print(admin_guide_markdown(), end="")
