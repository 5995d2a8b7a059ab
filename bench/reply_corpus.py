"""A small labelled corpus for reply recommendations: kinds of support problems, in English and
Polish, each with ways customers word it and the answer agents give, and 20 hand-written queries
labelled with the kind whose answer is right.

Closed tickets are generated from the kinds (``generate``): a subject, one or two wordings of the
problem, sometimes a generic sentence or an order number, and the kind's answer as the agent's
reply. Kinds overlap on purpose (logging in vs. password reset vs. two-factor codes; a wrong
invoice vs. a refund vs. a billing address; a parcel not delivered vs. delivered damaged) so
the words they share do not decide alone. The queries are written differently from the
generated wordings (other words, other inflections); a query is a hit when one of its top 3
recommendations comes from a ticket of its labelled kind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    key: str
    lang: str
    subjects: tuple[str, ...]
    problems: tuple[str, ...]
    answer: str


KINDS: tuple[Kind, ...] = (
    Kind(
        "login",
        "en",
        ("Cannot log in", "Login not working", "Locked out of my account"),
        (
            "I cannot log in to my account, the page says my credentials are invalid.",
            "Since this morning the login page rejects my email and password.",
            "My account seems locked, every sign in attempt fails.",
        ),
        "Your account was locked after several failed sign-in attempts; I unlocked it, please sign in again.",
    ),
    Kind(
        "password_reset",
        "en",
        ("Password reset link expired", "Reset password email", "Forgot my password"),
        (
            "I forgot my password and the reset link you emailed has expired.",
            "The password reset email never arrives in my inbox.",
            "Clicking the reset password link shows an expired token error.",
        ),
        "Reset links are valid for 24 hours; I have sent you a fresh password reset link just now.",
    ),
    Kind(
        "two_factor",
        "en",
        ("Two-factor code not received", "2FA problem", "Authentication code"),
        (
            "The two-factor authentication code by SMS does not arrive on my new phone.",
            "I changed phones and my authenticator app no longer gives valid codes.",
            "Sign in asks for a verification code but no text message comes.",
        ),
        "I have reset two-factor authentication on your account; set it up again from Settings > Security.",
    ),
    Kind(
        "invoice_wrong",
        "en",
        ("Invoice is wrong", "Wrong amount on invoice", "Invoice error"),
        (
            "The invoice for March shows the wrong amount, we were charged for 20 seats instead of 12.",
            "Our latest invoice lists the licence twice.",
            "The VAT number on the invoice is incorrect and our accountant rejects it.",
        ),
        "I have issued a corrected invoice with the right number of seats and VAT details; it is attached.",
    ),
    Kind(
        "refund",
        "en",
        ("Refund request", "Money back", "Charged twice"),
        (
            "I was charged twice for the same order and would like a refund.",
            "Please refund my subscription, I cancelled it before renewal.",
            "My card shows two payments for one purchase.",
        ),
        "The duplicate payment has been refunded to your card; banks usually show it within 5 business days.",
    ),
    Kind(
        "billing_address",
        "en",
        ("Change billing address", "Update company details", "New billing details"),
        (
            "We moved offices, please update the billing address on our account.",
            "How do I change the company name and address printed on invoices?",
            "Our billing details changed, the new address should appear on future invoices.",
        ),
        "You can change the billing address under Billing > Company details; future invoices will use it.",
    ),
    Kind(
        "export_csv",
        "en",
        ("Export to CSV fails", "CSV download broken", "Report export error"),
        (
            "Exporting the sales report to CSV fails with an error 500.",
            "The CSV download button spins forever and no file is created.",
            "Large reports cannot be exported, the export times out.",
        ),
        "Exports over 50,000 rows now run in the background; you will get an email with the CSV file link.",
    ),
    Kind(
        "app_crash",
        "en",
        ("App crashes on start", "Mobile app closes", "Android app crash"),
        (
            "The mobile app crashes right after the splash screen on my Android phone.",
            "Since the last update the iPhone app closes as soon as I open it.",
            "The app freezes on startup and then shuts down.",
        ),
        "Version 4.2.1 fixes the start-up crash; update the app from the store and restart your phone.",
    ),
    Kind(
        "slow_dashboard",
        "en",
        ("Slow dashboard", "Dashboard takes forever", "Performance issue"),
        (
            "The dashboard takes more than a minute to load every morning.",
            "Charts on the home dashboard are extremely slow to render.",
            "Our team complains that the analytics dashboard is very sluggish.",
        ),
        "We added an index that speeds up the dashboard queries; load times should now be a few seconds.",
    ),
    Kind(
        "cancel_subscription",
        "en",
        ("Cancel my subscription", "Stop auto renewal", "Close account"),
        (
            "Please cancel my subscription at the end of the current period.",
            "How can I turn off automatic renewal of our plan?",
            "We no longer need the service and want to close our account.",
        ),
        "Your subscription is cancelled and will not renew; you keep access until the end of the period.",
    ),
    Kind(
        "printer",
        "en",
        ("Printer error", "Printer not printing", "Paper jam"),
        (
            "The office printer shows error 42 and stops printing.",
            "Paper keeps jamming in tray 2 of the printer.",
            "Print jobs stay in the queue and the printer light blinks orange.",
        ),
        "Error 42 means the tray sensor is blocked: open tray 2, remove torn paper and restart the printer.",
    ),
    Kind(
        "vpn",
        "en",
        ("VPN not connecting", "Cannot reach VPN", "Remote access down"),
        (
            "The VPN client fails to connect from home with a timeout.",
            "Remote access through the VPN stopped working after the update.",
            "I cannot reach internal servers, the VPN tunnel drops every few minutes.",
        ),
        "Please install VPN client 5.3 and re-import the profile from the portal; the old profile expired.",
    ),
    Kind(
        "paczka_nie_dotarla",
        "pl",
        ("Paczka nie dotarła", "Gdzie jest moja przesyłka", "Brak dostawy"),
        (
            "Zamówiłem towar dwa tygodnie temu, a paczka nadal nie dotarła.",
            "Status przesyłki u kuriera nie zmienia się od tygodnia.",
            "Kurier nie dostarczył zamówienia w umówionym terminie.",
        ),
        "Paczka utknęła w sortowni kuriera; wysłaliśmy zamówienie ponownie, dotrze w ciągu dwóch dni.",
    ),
    Kind(
        "paczka_uszkodzona",
        "pl",
        ("Uszkodzona paczka", "Towar dotarł zniszczony", "Reklamacja uszkodzenia"),
        (
            "Paczka dotarła uszkodzona, karton był zgnieciony, a ekran monitora pęknięty.",
            "Otrzymany towar jest zniszczony w transporcie.",
            "Przesyłka przyszła rozbita i chcę złożyć reklamację.",
        ),
        "Przykro nam z powodu uszkodzenia; prosimy o zdjęcia, nowy egzemplarz wyślemy po ich otrzymaniu.",
    ),
    Kind(
        "faktura_korekta",
        "pl",
        ("Błędna faktura", "Korekta faktury", "Zły NIP na fakturze"),
        (
            "Na fakturze jest błędny NIP naszej firmy, proszę o korektę.",
            "Faktura za marzec ma złą kwotę, policzono nam za dużo licencji.",
            "Księgowość odrzuciła fakturę, bo dane nabywcy są nieprawidłowe.",
        ),
        "Wystawiliśmy fakturę korygującą z poprawnym NIP-em i kwotą; jest w załączniku.",
    ),
    Kind(
        "zwrot_pieniedzy",
        "pl",
        ("Zwrot pieniędzy", "Podwójna płatność", "Prośba o zwrot"),
        (
            "Pobrano ode mnie dwa razy opłatę za to samo zamówienie, proszę o zwrot.",
            "Zrezygnowałem z usługi przed odnowieniem i chcę odzyskać pieniądze.",
            "Na koncie widzę dwie płatności za jeden zakup.",
        ),
        "Zwróciliśmy podwójną płatność na Pana kartę; bank zaksięguje ją w ciągu 5 dni roboczych.",
    ),
    Kind(
        "haslo",
        "pl",
        ("Nie mogę się zalogować", "Reset hasła", "Zapomniałem hasła"),
        (
            "Zapomniałem hasła, a link do resetu hasła wygasł.",
            "Nie mogę się zalogować, system odrzuca moje hasło.",
            "Wiadomość z linkiem do zmiany hasła nie przychodzi.",
        ),
        "Wysłaliśmy nowy link do ustawienia hasła; jest ważny 24 godziny.",
    ),
    Kind(
        "aplikacja",
        "pl",
        ("Aplikacja się zawiesza", "Błąd aplikacji mobilnej", "Aplikacja nie działa"),
        (
            "Aplikacja mobilna zamyka się zaraz po uruchomieniu na moim telefonie.",
            "Po ostatniej aktualizacji aplikacja zawiesza się na ekranie startowym.",
            "Nie da się otworzyć aplikacji, od razu się wyłącza.",
        ),
        "Wersja 4.2.1 aplikacji usuwa ten błąd; prosimy o aktualizację i ponowne uruchomienie telefonu.",
    ),
)
BY_KEY = {kind.key: kind for kind in KINDS}

FILLERS = {
    "en": (
        "This is quite urgent for us.",
        "Could you please look into it today?",
        "Our account number is {n}.",
        "Order reference {n}.",
        "It worked fine last week.",
        "Several colleagues see the same thing.",
    ),
    "pl": (
        "To dla nas pilna sprawa.",
        "Proszę o szybką odpowiedź.",
        "Numer klienta {n}.",
        "Numer zamówienia {n}.",
        "W zeszłym tygodniu wszystko działało.",
        "Kilka osób ma ten sam kłopot.",
    ),
}
GREETING = {"en": ("Hello,", "Hi,", "Dear support,"), "pl": ("Dzień dobry,", "Witam,", "Szanowni Państwo,")}
CLOSING = {"en": ("Thanks,", "Regards,", "Best,"), "pl": ("Pozdrawiam,", "Dziękuję,", "Z poważaniem,")}


@dataclass(frozen=True)
class Generated:
    kind: str
    subject: str
    body: str
    answer: str


def generate(count: int, seed: int = 7) -> list[Generated]:
    """``count`` closed tickets' conversations, kinds spread evenly (deterministic)."""
    rng = random.Random(seed)
    found = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        lines = [rng.choice(GREETING[kind.lang])]
        said = rng.sample(kind.problems, rng.choice((1, 1, 2)))
        if rng.random() < 0.6:
            said.append(rng.choice(FILLERS[kind.lang]).format(n=rng.randrange(10_000, 99_999)))
        rng.shuffle(said)
        lines += [" ".join(said), rng.choice(CLOSING[kind.lang]), rng.choice(("Ann", "Bob", "Jan", "Ewa"))]
        found.append(Generated(kind.key, rng.choice(kind.subjects), "\n".join(lines), kind.answer))
    return found


QUERIES: tuple[tuple[str, str, str], ...] = (
    (
        "login",
        "Sign-in problem",
        "Hi, whenever I try to sign in it says wrong email or password, but I'm sure it's right.",
    ),
    (
        "password_reset",
        "Reset",
        "The link to set a new password says it is no longer valid. Can you send another?",
    ),
    (
        "two_factor",
        "Verification",
        "No SMS with the security code reaches me when I sign in, I got a new phone number.",
    ),
    (
        "invoice_wrong",
        "Billing mistake",
        "Our invoice charges us for more seats than we have, please correct the amount.",
    ),
    ("refund", "Double payment", "You took the payment twice from my credit card. I want my money back."),
    (
        "billing_address",
        "Address",
        "We relocated. Where can I edit the address that appears on our invoices?",
    ),
    (
        "export_csv",
        "Export",
        "Downloading the report as CSV never finishes, after a while I get a server error.",
    ),
    ("app_crash", "Crash", "After updating, the phone app shuts down immediately when launched."),
    ("slow_dashboard", "Speed", "Loading the dashboard with charts is painfully slow for everyone here."),
    ("cancel_subscription", "Renewal", "Do not renew our plan next month, we want to cancel."),
    ("printer", "Printing", "Printer on the 2nd floor has a paper jam and shows an error, nothing prints."),
    (
        "vpn",
        "Home office",
        "From home the VPN connection times out and I cannot get to the internal servers.",
    ),
    (
        "paczka_nie_dotarla",
        "Przesyłka",
        "Moja przesyłka nie została doręczona, kurier od tygodnia nic nie robi.",
    ),
    (
        "paczka_uszkodzona",
        "Zniszczony towar",
        "Karton przyszedł zgnieciony, a monitor w środku ma pęknięty ekran.",
    ),
    ("faktura_korekta", "Faktura", "Proszę o korektę faktury, NIP nabywcy jest wpisany błędnie."),
    (
        "zwrot_pieniedzy",
        "Płatność",
        "Płatność za zamówienie pobrano podwójnie z mojej karty, chcę zwrotu pieniędzy.",
    ),
    ("haslo", "Logowanie", "Nie pamiętam hasła, a link do jego zmiany już nie działa."),
    ("aplikacja", "Telefon", "Aplikacja na telefonie wyłącza się przy każdym uruchomieniu po aktualizacji."),
    (
        "refund",
        "Cancelled too late?",
        "I cancelled before the renewal date but you still charged me, please return the payment.",
    ),
    (
        "paczka_nie_dotarla",
        "Brak paczki",
        "Paczki dalej nie ma, a status u kuriera stoi w miejscu od wielu dni.",
    ),
)
"""The labelled set: (right kind, subject, message) of 20 new tickets (12 English, 8 Polish)."""
