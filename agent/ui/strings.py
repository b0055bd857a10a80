"""The UI's own strings in English and Italian, and locale choice.

Pack texts (toast title, body, button labels) come from the pack, in every
language the pack has (:func:`pick_locale`, BCP 47 lookup with region
fallback); these are Waymark's own words, in English or Italian whatever the
pack's languages.  ``tr(key, lang)`` falls back to English, so a missing
Italian string shows English rather than a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

__all__ = [
    "LANGUAGES",
    "STRINGS",
    "lookup_locale",
    "pick_locale",
    "resolve_language",
    "text_preferences",
    "tr",
]

LANGUAGES: Final = ("en", "it")

STRINGS: Final[Mapping[str, Mapping[str, str]]] = {
    # toast
    "app_name": {"en": "Waymark", "it": "Waymark"},
    "toast_caption": {"en": "Waymark tip", "it": "Suggerimento di Waymark"},
    "got_it": {"en": "Got it", "it": "Ho capito"},
    "snooze": {"en": "Remind me later", "it": "Ricordamelo più tardi"},
    "snooze_for": {"en": "In {duration}", "it": "Tra {duration}"},
    "snooze_choice": {"en": "Remind me in {duration}", "it": "Ricordamelo tra {duration}"},
    "never": {"en": "Don't show this again", "it": "Non mostrarlo più"},
    "close": {"en": "Close tip", "it": "Chiudi il suggerimento"},
    "toast_image": {"en": "Illustration", "it": "Illustrazione"},
    "toast_announce": {"en": "Waymark tip: {title}", "it": "Suggerimento di Waymark: {title}"},
    "sample_title": {
        "en": "This is a sample Waymark tip",
        "it": "Questo è un suggerimento di prova di Waymark",
    },
    "sample_body": {
        "en": "If you can read this, tips can appear on this computer. Any button closes it; "
        "nothing is recorded.",
        "it": "Se riesci a leggerlo, i suggerimenti possono comparire su questo computer. "
        "Qualsiasi pulsante lo chiude; non viene registrato nulla.",
    },
    "minutes": {"en": "{n} min", "it": "{n} min"},
    "hour": {"en": "1 hour", "it": "1 ora"},
    "hours": {"en": "{n} hours", "it": "{n} ore"},
    "day": {"en": "1 day", "it": "1 giorno"},
    "days": {"en": "{n} days", "it": "{n} giorni"},
    # tray
    "status_on": {"en": "Coaching is on", "it": "Suggerimenti attivi"},
    "status_off": {"en": "Coaching is switched off", "it": "Suggerimenti disattivati"},
    "status_paused": {"en": "Paused until {when}", "it": "In pausa fino alle {when}"},
    "status_missing": {
        "en": "Waymark cannot see {what}: {why}.",
        "it": "Waymark non può vedere {what}: {why}.",
    },
    "sees_input": {"en": "keyboard shortcuts and clicks", "it": "scorciatoie e clic"},
    "sees_focus": {"en": "which app is in front", "it": "quale app è in primo piano"},
    "sees_idle": {"en": "when you are away", "it": "quando sei lontano dal computer"},
    "sees_lock": {"en": "when the screen is locked", "it": "quando lo schermo è bloccato"},
    "sees_quiet": {
        "en": "full-screen apps and presentations",
        "it": "app a schermo intero e presentazioni",
    },
    "cause_permission": {
        "en": "it needs a permission (System Settings › Privacy & Security)",
        "it": "serve un'autorizzazione (Impostazioni di Sistema › Privacy e sicurezza)",
    },
    "cause_bus": {
        "en": "the desktop's message service (D-Bus) is not available",
        "it": "il servizio di messaggi del desktop (D-Bus) non è disponibile",
    },
    "cause_wayland": {
        "en": "this Wayland session does not allow it",
        "it": "questa sessione Wayland non lo consente",
    },
    "cause_display": {
        "en": "there is no desktop display",
        "it": "non c'è uno schermo del desktop",
    },
    "cause_needs_focus": {
        "en": "it needs to know which app is in front",
        "it": "deve sapere quale app è in primo piano",
    },
    "cause_other": {
        "en": "it could not start on this computer",
        "it": "non è potuto partire su questo computer",
    },
    "focus_tip": {"en": "Go to the newest tip", "it": "Vai all'ultimo suggerimento"},
    "sample_tip": {"en": "Show a sample tip", "it": "Mostra un suggerimento di prova"},
    "pause_hour": {"en": "Pause for 1 hour", "it": "Pausa per 1 ora"},
    "pause_tomorrow": {"en": "Pause until tomorrow", "it": "Pausa fino a domani"},
    "resume": {"en": "Resume coaching", "it": "Riprendi i suggerimenti"},
    "settings": {"en": "Settings…", "it": "Impostazioni…"},
    "what_collects": {"en": "What Waymark collects…", "it": "Cosa raccoglie Waymark…"},
    "about": {"en": "About Waymark", "it": "Informazioni su Waymark"},
    "quit": {"en": "Quit Waymark", "it": "Esci da Waymark"},
    "no_tray": {
        "en": "Waymark is running, but this desktop has no notification area, so there is "
        "no Waymark icon. Tips still appear; run `waymark settings` to open the settings.",
        "it": "Waymark è in esecuzione, ma questo desktop non ha un'area di notifica e l'icona "
        "non compare. I suggerimenti appaiono comunque; usa `waymark settings` per le "
        "impostazioni.",
    },
    # settings window
    "settings_title": {"en": "Waymark settings", "it": "Impostazioni di Waymark"},
    "page_coaching": {"en": "Coaching", "it": "Suggerimenti"},
    "page_language": {"en": "Language", "it": "Lingua"},
    "page_privacy": {"en": "Privacy", "it": "Privacy"},
    "page_about": {"en": "About", "it": "Informazioni"},
    "managed_by": {"en": "Managed by {org}", "it": "Gestito da {org}"},
    "your_org": {"en": "your organisation", "it": "la tua organizzazione"},
    "reset_never": {
        "en": "Show hidden tips again",
        "it": "Mostra di nuovo i suggerimenti nascosti",
    },
    "reset_never_help": {
        "en": "Undo every “Don't show this again” choice.",
        "it": "Annulla ogni scelta “Non mostrarlo più”.",
    },
    "reset_never_done": {
        "en": "Hidden tips will be shown again.",
        "it": "I suggerimenti nascosti saranno mostrati di nuovo.",
    },
    "pause_state": {"en": "Status", "it": "Stato"},
    "list_hint": {"en": "Separate with commas", "it": "Separa con virgole"},
    "time_hint": {"en": "e.g. 12:30-13:30", "it": "es. 12:30-13:30"},
    "saved": {"en": "Saved", "it": "Salvato"},
    "consent_state": {"en": "Usage statistics", "it": "Statistiche d'uso"},
    "consent_granted": {
        "en": "You agreed to share tip statistics with {org}.",
        "it": "Hai accettato di condividere le statistiche dei suggerimenti con {org}.",
    },
    "consent_declined": {
        "en": "Nothing is sent. Tip statistics stay on this computer.",
        "it": "Non viene inviato nulla. Le statistiche restano su questo computer.",
    },
    "consent_notice_state": {
        "en": "{org} collects tip statistics (organisation notice).",
        "it": "{org} raccoglie le statistiche dei suggerimenti (avviso dell'organizzazione).",
    },
    "pending_title": {"en": "Waiting to be sent", "it": "In attesa di invio"},
    "sent_title": {"en": "Recently sent", "it": "Inviati di recente"},
    "col_time": {"en": "When", "it": "Quando"},
    "col_what": {"en": "What happened", "it": "Cosa è successo"},
    "col_tip": {"en": "Tip", "it": "Suggerimento"},
    "col_habit": {"en": "Habit", "it": "Abitudine"},
    "col_detail": {"en": "Detail", "it": "Dettaglio"},
    "col_app": {"en": "App", "it": "App"},
    "refresh": {"en": "Refresh", "it": "Aggiorna"},
    "nothing_here": {"en": "Nothing yet.", "it": "Ancora niente."},
    "kind_shown": {"en": "Tip shown", "it": "Suggerimento mostrato"},
    "kind_suppressed": {"en": "Tip held back", "it": "Suggerimento trattenuto"},
    "kind_adopted": {"en": "Habit used", "it": "Abitudine usata"},
    "kind_acted": {"en": "Button pressed", "it": "Pulsante premuto"},
    "kind_snoozed": {"en": "Snoozed", "it": "Rimandato"},
    "kind_dismissed": {"en": "Closed", "it": "Chiuso"},
    "kind_never": {"en": "Hidden for good", "it": "Nascosto per sempre"},
    "about_version": {"en": "Version", "it": "Versione"},
    "about_pack": {"en": "Coaching pack", "it": "Pacchetto di suggerimenti"},
    "about_server": {"en": "Server", "it": "Server"},
    "about_last_sync": {"en": "Last sync", "it": "Ultima sincronizzazione"},
    "about_sources": {"en": "What Waymark can see", "it": "Cosa può vedere Waymark"},
    "about_none": {"en": "none", "it": "nessuno"},
    "about_never": {"en": "never", "it": "mai"},
    "about_ok": {"en": "working", "it": "attivo"},
    "about_blurb": {
        "en": "Waymark shows short tips that help you use new tools. "
        "Read docs/privacy.md for everything it observes and sends.",
        "it": "Waymark mostra brevi suggerimenti per aiutarti a usare i nuovi strumenti. "
        "Leggi docs/privacy.md per tutto ciò che osserva e invia.",
    },
    # consent page
    "consent_title": {
        "en": "Waymark helps you pick up new habits",
        "it": "Waymark ti aiuta a prendere nuove abitudini",
    },
    "consent_observes_h": {"en": "What it looks at", "it": "Cosa osserva"},
    "consent_observes": {
        "en": "Which app is in front, keyboard shortcuts such as Ctrl+V, mouse clicks "
        "(not where), when you are idle and when the screen is locked. "
        "It never records what you type, what you copy, or your screen.",
        "it": "Quale app è in primo piano, le scorciatoie da tastiera come Ctrl+V, i clic "
        "del mouse (non dove), quando sei inattivo e quando lo schermo è bloccato. "
        "Non registra mai ciò che scrivi, ciò che copi né il tuo schermo.",
    },
    "consent_sends_h": {"en": "What it would send", "it": "Cosa invierebbe"},
    "consent_sends": {
        "en": "Only tip statistics: which tip was shown, held back or used, and what you "
        "chose (Got it, Later, Don't show again), with the time. They go to {server}, run "
        "for {org}. Reports only ever show groups of 10 or more people.",
        "it": "Solo statistiche sui suggerimenti: quale suggerimento è stato mostrato, "
        "trattenuto o usato e cosa hai scelto (Ho capito, Più tardi, Non mostrarlo più), "
        "con l'ora. Vanno a {server}, gestito per {org}. I report mostrano sempre gruppi di "
        "almeno 10 persone.",
    },
    "consent_control_h": {"en": "You stay in control", "it": "Decidi tu"},
    "consent_control": {
        "en": "Tips work either way. You can pause Waymark from its icon, and change this "
        "choice at any time in Settings › Privacy, where you can also see every record "
        "before it is sent.",
        "it": "I suggerimenti funzionano in ogni caso. Puoi mettere in pausa Waymark dalla "
        "sua icona e cambiare questa scelta in qualsiasi momento in Impostazioni › Privacy, "
        "dove vedi anche ogni record prima dell'invio.",
    },
    "consent_question": {
        "en": "Share tip statistics with {org}?",
        "it": "Condividere le statistiche dei suggerimenti con {org}?",
    },
    "opt_in": {"en": "Yes, share statistics", "it": "Sì, condividi le statistiche"},
    "not_now": {"en": "Not now", "it": "Non ora"},
    "notice_title": {
        "en": "Waymark is set up by {org}",
        "it": "Waymark è configurato da {org}",
    },
    "notice_sends": {
        "en": "{org} has informed employees that tip statistics are collected: which tip "
        "was shown, held back or used, and what you chose, with the time. They go to "
        "{server}. Reports only ever show groups of 10 or more people.",
        "it": "{org} ha informato i dipendenti che vengono raccolte statistiche sui "
        "suggerimenti: quale suggerimento è stato mostrato, trattenuto o usato e cosa hai "
        "scelto, con l'ora. Vanno a {server}. I report mostrano sempre gruppi di almeno 10 "
        "persone.",
    },
    "notice_ok": {"en": "OK, understood", "it": "OK, ho capito"},
    "no_server": {"en": "no server (nothing leaves this computer)", "it": "nessun server"},
}


def _subtags(tag: str) -> list[str]:
    return [p for p in tag.replace("_", "-").split("-") if p]


def resolve_language(setting: object, system: str) -> str:
    """Waymark's own language (one of :data:`LANGUAGES`) for the language setting.

    The setting (or, for ``system``, the system's locale) is a BCP 47 tag; its
    language decides (``it-CH`` → ``it``), English when Waymark has no strings in it.
    """
    tag = str(setting) if isinstance(setting, str) and setting != "system" else system
    parts = _subtags(tag)
    base = parts[0].lower() if parts else ""
    return base if base in LANGUAGES else "en"


def text_preferences(setting: object, system_languages: Sequence[str]) -> tuple[str, ...]:
    """The languages wanted for a pack's texts, best first: the setting's tag, or for
    ``system`` the system's UI languages (``de_CH`` is read as ``de-CH``)."""
    if isinstance(setting, str) and setting and setting != "system":
        return (setting,)
    return tuple("-".join(_subtags(tag)) for tag in system_languages if _subtags(tag))


def lookup_locale(
    available: Iterable[str], wanted: Sequence[str] | str, default_locale: str
) -> str | None:
    """The tag of ``available`` to show for ``wanted`` (BCP 47 lookup, RFC 4647 §3.4).

    Each wanted tag is tried as it is, then with its last subtag removed
    (``de-CH`` → ``de``; ``zh-Hant-TW`` → ``zh-Hant`` → ``zh``), ignoring case;
    then the pack's ``default_locale``; then any.  None when nothing is available.
    """
    tags = list(available)
    by_lower = {t.lower(): t for t in tags}
    for tag in (wanted,) if isinstance(wanted, str) else wanted:
        parts = [p.lower() for p in _subtags(tag)]
        while parts:
            found = by_lower.get("-".join(parts))
            if found is not None:
                return found
            parts.pop()
            while parts and len(parts[-1]) == 1:  # a singleton (x-, u-) goes with what follows
                parts.pop()
    if default_locale in by_lower.values():
        return default_locale
    return tags[0] if tags else None


def tr(key: str, lang: str, **values: object) -> str:
    """The UI string ``key`` in ``lang`` (English when missing), with ``{values}`` filled."""
    texts = STRINGS[key]
    text = texts.get(lang) or texts["en"]
    return text.format(**values) if values else text


def pick_locale(texts: Mapping[str, str], wanted: Sequence[str] | str, default_locale: str) -> str:
    """A pack text in the first wanted language it has (see :func:`lookup_locale`),
    else in the pack's default locale, else in any."""
    tag = lookup_locale(texts, wanted, default_locale)
    return texts[tag] if tag is not None else ""
