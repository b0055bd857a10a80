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
    "sees_accessibility": {
        "en": "the buttons and dialogs you use in the apps the tips name",
        "it": "i pulsanti e le finestre che usi nelle app dei suggerimenti",
    },
    "sees_files": {
        "en": "where files are saved in the folders the tips name",
        "it": "dove vengono salvati i file nelle cartelle dei suggerimenti",
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
    "kind_held_back": {"en": "Tip held back: {why}", "it": "Suggerimento trattenuto: {why}"},
    "kind_acted_with": {"en": "You chose “{choice}”", "it": "Hai scelto “{choice}”"},
    "reason_schedule": {"en": "outside its hours", "it": "fuori dal suo orario"},
    "reason_audience": {
        "en": "not meant for this computer's group",
        "it": "non previsto per il gruppo di questo computer",
    },
    "reason_holdout": {
        "en": "kept back so the tip's effect can be measured",
        "it": "trattenuto per misurare l'effetto del suggerimento",
    },
    "reason_paused": {"en": "coaching was paused", "it": "i suggerimenti erano in pausa"},
    "reason_never": {
        "en": "you chose not to see it again",
        "it": "hai scelto di non vederlo più",
    },
    "reason_snoozed": {"en": "you asked for it later", "it": "hai chiesto di rimandarlo"},
    "reason_cooldown": {"en": "shown a short while ago", "it": "mostrato da poco"},
    "reason_rule_daily_cap": {"en": "already shown today", "it": "già mostrato oggi"},
    "reason_rule_total_cap": {"en": "already shown enough", "it": "già mostrato abbastanza"},
    "reason_total_once": {"en": "already shown once", "it": "già mostrato una volta"},
    "reason_total_n": {"en": "already shown {n} times", "it": "già mostrato {n} volte"},
    "reason_adopted_enough": {
        "en": "you already have this habit",
        "it": "hai già questa abitudine",
    },
    "reason_pack_gap": {
        "en": "another tip was shown a moment ago",
        "it": "un altro suggerimento è stato mostrato poco fa",
    },
    "reason_pack_daily_cap": {
        "en": "enough tips for today",
        "it": "abbastanza suggerimenti per oggi",
    },
    "reason_quiet": {
        "en": "you were presenting, away, or in an app not to interrupt",
        "it": "stavi presentando, eri via o in un'app da non interrompere",
    },
    "reason_outranked": {
        "en": "a more important tip was shown instead",
        "it": "è stato mostrato un suggerimento più importante",
    },
    "reason_no_display": {
        "en": "it could not be shown on this screen",
        "it": "non è stato possibile mostrarlo su questo schermo",
    },
    "stored_as": {"en": "Stored as: {record}", "it": "Registrato come: {record}"},
    "kept_title": {"en": "Kept on this computer", "it": "Conservati su questo computer"},
    "no_server_nothing_sent": {
        "en": "No server is set up, so nothing is sent.",
        "it": "Nessun server è configurato, quindi non viene inviato nulla.",
    },
    "notice_can_do": {
        "en": "Sharing is your organisation's decision here, so it is not a choice on this "
        "page. You can still pause Waymark at any time (from its icon or the Coaching page) "
        "and see below every record before it is sent.",
        "it": "Qui la condivisione è una decisione della tua organizzazione, quindi non è una "
        "scelta di questa pagina. Puoi comunque mettere in pausa Waymark in qualsiasi "
        "momento (dalla sua icona o dalla pagina Suggerimenti) e vedere qui sotto ogni "
        "record prima dell'invio.",
    },
    "language_system": {"en": "As the system", "it": "Come il sistema"},
    "apps_list": {"en": "Apps never interrupted", "it": "App mai interrotte"},
    "add_app": {"en": "Add an app", "it": "Aggiungi un'app"},
    "remove_app": {"en": "Remove", "it": "Rimuovi"},
    "no_apps": {"en": "No apps yet", "it": "Ancora nessuna app"},
    "apps_recent": {"en": "Recently in front", "it": "Usate di recente"},
    "apps_known": {"en": "Apps the tips know", "it": "App note ai suggerimenti"},
    "app_other": {"en": "Another app…", "it": "Un'altra app…"},
    "app_other_help": {
        "en": "The app's program name (e.g. zoom.exe, us.zoom.xos or zoom):",
        "it": "Il nome del programma dell'app (es. zoom.exe, us.zoom.xos o zoom):",
    },
    "help_consent": {
        "en": "Whether tip statistics (never what you type) may be sent to your organisation.",
        "it": "Se le statistiche dei suggerimenti (mai ciò che scrivi) possono essere inviate "
        "alla tua organizzazione.",
    },
    "help_never_interrupt": {
        "en": "No tip appears while one of these apps is in front, e.g. your video-call app.",
        "it": "Nessun suggerimento mentre una di queste app è in primo piano, ad esempio "
        "l'app per le videochiamate.",
    },
    "help_language": {
        "en": "Tips come in this language when the coaching pack has it; Waymark's own "
        "words are in English or Italian.",
        "it": "I suggerimenti sono in questa lingua se il pacchetto la prevede; le parole di "
        "Waymark sono in inglese o in italiano.",
    },
    "about_version": {"en": "Version", "it": "Versione"},
    "about_pack": {"en": "Coaching pack", "it": "Pacchetto di suggerimenti"},
    "about_server": {"en": "Server", "it": "Server"},
    "about_last_sync": {"en": "Last sync", "it": "Ultima sincronizzazione"},
    "about_sources": {"en": "What Waymark can see", "it": "Cosa può vedere Waymark"},
    "about_none": {"en": "none", "it": "nessuno"},
    "about_never": {"en": "never", "it": "mai"},
    "about_ok": {"en": "working", "it": "attivo"},
    "about_blurb": {
        "en": "Waymark shows short tips that help you use new tools.",
        "it": "Waymark mostra brevi suggerimenti per aiutarti a usare i nuovi strumenti.",
    },
    "about_privacy_link": {
        "en": "What Waymark observes and sends",
        "it": "Cosa osserva e invia Waymark",
    },
    "about_sees": {"en": "It sees {what}.", "it": "Vede {what}."},
    "sync_no_keyring": {
        "en": "this computer has no password store (keyring) to keep Waymark's key, so it "
        "does not connect",
        "it": "questo computer non ha un archivio di password (portachiavi) per la chiave di "
        "Waymark, quindi non si collega",
    },
    "sync_pack_refused": {
        "en": "new tips from the server did not pass their safety checks; the current tips stay",
        "it": "i nuovi suggerimenti dal server non hanno superato i controlli di sicurezza; "
        "restano quelli attuali",
    },
    "sync_waiting_approval": {
        "en": "this computer waits for your IT team to approve it; tips work, statistics "
        "stay here until then",
        "it": "questo computer attende l'approvazione del team IT; i suggerimenti funzionano, "
        "le statistiche restano qui fino ad allora",
    },
    "sync_not_enrolled": {
        "en": "this computer is not registered with the server (your IT team can fix this)",
        "it": "questo computer non è registrato presso il server (il tuo team IT può risolvere)",
    },
    "sync_bad_address": {
        "en": "the server address is not set up correctly (your IT team can fix this)",
        "it": "l'indirizzo del server non è configurato bene (il tuo team IT può risolvere)",
    },
    "sync_unreachable": {
        "en": "the server could not be reached; Waymark tries again later",
        "it": "il server non è raggiungibile; Waymark riprova più tardi",
    },
    "sync_refused": {
        "en": "the server did not accept this computer (your IT team can fix this)",
        "it": "il server non ha accettato questo computer (il tuo team IT può risolvere)",
    },
    "sync_failed": {
        "en": "the last attempt did not work; Waymark tries again later",
        "it": "l'ultimo tentativo non è riuscito; Waymark riprova più tardi",
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
    "consent_sends_no_server": {
        "en": "Only tip statistics: which tip was shown, held back or used, and what you "
        "chose (Got it, Later, Don't show again), with the time. No server is set up yet, "
        "so nothing leaves this computer; if {org} sets one up, they go there. Reports only "
        "ever show groups of 10 or more people.",
        "it": "Solo statistiche sui suggerimenti: quale suggerimento è stato mostrato, "
        "trattenuto o usato e cosa hai scelto (Ho capito, Più tardi, Non mostrarlo più), "
        "con l'ora. Non c'è ancora un server, quindi nulla lascia questo computer; se "
        "{org} ne configura uno, andranno lì. I report mostrano sempre gruppi di almeno 10 "
        "persone.",
    },
    "notice_sends_no_server": {
        "en": "{org} has informed employees that tip statistics are collected: which tip "
        "was shown, held back or used, and what you chose, with the time. No server is set "
        "up yet, so for now nothing leaves this computer. Reports only ever show groups of "
        "10 or more people.",
        "it": "{org} ha informato i dipendenti che vengono raccolte statistiche sui "
        "suggerimenti: quale suggerimento è stato mostrato, trattenuto o usato e cosa hai "
        "scelto, con l'ora. Non c'è ancora un server, quindi per ora nulla lascia questo "
        "computer. I report mostrano sempre gruppi di almeno 10 persone.",
    },
    "notice_control_h": {"en": "What you can do", "it": "Cosa puoi fare"},
    "notice_control": {
        "en": "Tips work as usual. You can pause Waymark from its icon at any time, and in "
        "Settings › Privacy you can see every record before it is sent. Whether statistics "
        "are shared is {org}'s decision, so it is not a choice you make here.",
        "it": "I suggerimenti funzionano come sempre. Puoi mettere in pausa Waymark dalla sua "
        "icona in qualsiasi momento e in Impostazioni › Privacy vedi ogni record prima "
        "dell'invio. La condivisione delle statistiche è una decisione di {org}, quindi non "
        "è una scelta che fai qui.",
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
    "no_server": {
        "en": "none (nothing leaves this computer)",
        "it": "nessuno (nulla lascia questo computer)",
    },
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
