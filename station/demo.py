"""The demo store: a SQLite file ``<data dir>/demo.db`` created on first use and
reused after, with a few hundred grocery products (valid EAN-13 barcodes, two
tax rates, produce sold by the kg) and one user per role.

Demo users and PINs (also in the README):

    cashier 1111   supervisor 2222   manager 3333   treasurer 4444   admin 5555

Users whose role approves with TOTP (``security.totp_roles``) get the well-known
demo secret from :mod:`station.totp_enrol` (demo only!).
"""
from __future__ import annotations

from pathlib import Path

from data.models import Product, User
from station import catalog
from station import config as configmod

DEMO_USERS = [
    # name, role, PIN, full name
    ("cashier", "cashier", "1111", "Carla Cashier"),
    ("supervisor", "supervisor", "2222", "Sam Supervisor"),
    ("manager", "manager", "3333", "Mia Manager"),
    ("treasurer", "treasurer", "4444", "Theo Treasurer"),
    ("admin", "admin", "5555", "Ada Admin"),
]

DEMO_DB_NAME = "demo.db"

#: settings of the demo store (on top of the config file and environment)
DEMO_SETTINGS = {
    "store.name": "Station Demo Grocery",
    "store.address": ["12 Market Square", "10115 Berlin"],
    "store.tax_id": "DE 123 456 789",
    "security.idle_lock_minutes": 15,
    "treasury.float_fund": "change",
}

#: the demo treasury: opening balances (minor units), petty cash topped up from the
#: safe below 150.00, and two payments waiting (one to approve, one to execute)
DEMO_FUNDS = {"safe": 3000_00, "petty": 300_00, "change": 1500_00, "bank": 9_000_00}

FOOD, STANDARD = "7", "19"   # German VAT: reduced (food) and standard rate

# category, VAT %, unit, [(name, price), ...]
_ITEMS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("Produce", FOOD, "kg", [
        ("Apples Braeburn", "2.99"), ("Apples Elstar", "2.49"), ("Apples Granny Smith", "3.29"),
        ("Bananas", "1.69"), ("Pears Conference", "2.99"), ("Tomatoes on the Vine", "3.99"),
        ("Carrots", "1.29"), ("Potatoes Waxy", "1.49"), ("Onions Yellow", "1.39"),
        ("Red Onions", "1.99"), ("Oranges", "2.29"), ("Lemons", "2.99"), ("Grapes White Seedless", "4.99"),
        ("Kiwi Gold", "5.99"), ("Courgettes", "2.79"), ("Peppers Red", "4.49"), ("Mushrooms Brown", "5.98"),
        ("Sweet Potatoes", "3.49"), ("Ginger Root", "6.99"), ("Plums", "3.49"), ("Nectarines", "3.99"),
        ("Cherries", "9.99"), ("Mandarins", "2.99"), ("Leeks", "2.49"), ("Parsnips", "3.29"),
    ]),
    ("Produce", FOOD, "pc", [
        ("Cucumber", "0.79"), ("Iceberg Lettuce", "0.99"), ("Avocado Hass", "1.29"),
        ("Pineapple", "2.49"), ("Mango", "1.49"), ("Broccoli", "1.39"), ("Cauliflower", "1.99"),
        ("Garlic Net 3 Bulbs", "0.99"), ("Fresh Basil Pot", "1.99"), ("Cherry Tomatoes 250 g", "1.79"),
        ("Baby Spinach 200 g", "1.99"), ("Blueberries 125 g", "2.49"), ("Strawberries 500 g", "3.49"),
        ("Rocket Salad 125 g", "1.29"), ("Spring Onions Bunch", "0.69"), ("Watermelon", "3.99"),
    ]),
    ("Dairy & Eggs", FOOD, "pc", [
        ("Whole Milk 3.5% 1 l", "1.19"), ("Semi-skimmed Milk 1.5% 1 l", "1.09"),
        ("Oat Drink 1 l", "1.79"), ("Butter 250 g", "2.29"), ("Salted Butter 250 g", "2.49"),
        ("Greek Yoghurt 10% 500 g", "2.19"), ("Natural Yoghurt 150 g", "0.45"),
        ("Strawberry Yoghurt 150 g", "0.55"), ("Quark 250 g", "0.89"), ("Crème Fraîche 200 g", "1.19"),
        ("Whipping Cream 200 ml", "0.99"), ("Gouda Young Sliced 150 g", "1.89"),
        ("Emmental Grated 200 g", "2.29"), ("Mozzarella 125 g", "0.89"), ("Feta 200 g", "1.99"),
        ("Parmigiano Reggiano 150 g", "3.99"), ("Camembert 125 g", "1.59"),
        ("Free Range Eggs 10", "3.29"), ("Organic Eggs 6", "2.79"), ("Cottage Cheese 200 g", "1.29"),
    ]),
    ("Bakery", FOOD, "pc", [
        ("Sourdough Bread 750 g", "3.49"), ("Rye Bread 500 g", "2.29"), ("Wholemeal Toast 500 g", "1.69"),
        ("White Toast 500 g", "1.19"), ("Baguette", "0.99"), ("Butter Croissant", "0.69"),
        ("Pretzel", "0.59"), ("Bread Rolls 6 pcs", "1.49"), ("Multigrain Rolls 4 pcs", "1.79"),
        ("Cinnamon Bun", "1.29"), ("Apple Turnover", "1.19"), ("Chocolate Muffin", "1.39"),
    ]),
    ("Meat & Fish", FOOD, "pc", [
        ("Chicken Breast Fillet 400 g", "5.49"), ("Minced Beef 500 g", "5.99"),
        ("Pork Sausages 400 g", "3.99"), ("Cooked Ham Sliced 200 g", "2.49"),
        ("Salami Sliced 100 g", "1.99"), ("Smoked Salmon 100 g", "3.49"),
        ("Salmon Fillet 250 g", "5.99"), ("Tuna in Brine 185 g", "1.59"), ("Fish Fingers 15 pcs", "2.99"),
        ("Turkey Breast Sliced 150 g", "2.29"), ("Beef Steak 300 g", "8.99"), ("Prawns Cooked 200 g", "4.49"),
    ]),
    ("Pantry", FOOD, "pc", [
        ("Spaghetti 500 g", "0.99"), ("Penne Rigate 500 g", "0.99"), ("Fusilli Wholewheat 500 g", "1.29"),
        ("Basmati Rice 1 kg", "2.49"), ("Risotto Rice 500 g", "1.99"), ("Wheat Flour Type 405 1 kg", "0.79"),
        ("Sugar 1 kg", "1.09"), ("Sea Salt 500 g", "0.69"), ("Extra Virgin Olive Oil 500 ml", "6.99"),
        ("Sunflower Oil 1 l", "2.29"), ("Tomato Passata 500 g", "0.89"), ("Chopped Tomatoes 400 g", "0.69"),
        ("Chickpeas 400 g", "0.89"), ("Kidney Beans 400 g", "0.79"), ("Sweetcorn 340 g", "0.99"),
        ("Coconut Milk 400 ml", "1.49"), ("Runny Honey 500 g", "4.49"), ("Strawberry Jam 450 g", "1.99"),
        ("Peanut Butter 350 g", "2.49"), ("Hazelnut Spread 400 g", "3.29"), ("Cornflakes 500 g", "1.99"),
        ("Crunchy Muesli 750 g", "2.99"), ("Rolled Oats 500 g", "0.89"), ("Tomato Ketchup 500 ml", "1.99"),
        ("Mayonnaise 500 ml", "2.19"), ("Medium Mustard 200 ml", "0.99"), ("Vegetable Stock Cubes", "1.19"),
        ("Black Pepper Ground 50 g", "1.49"), ("Paprika Sweet 50 g", "1.29"), ("Balsamic Vinegar 500 ml", "2.49"),
        ("Red Lentils 500 g", "1.79"), ("Couscous 500 g", "1.49"), ("Green Pesto 190 g", "2.29"),
    ]),
    ("Frozen", FOOD, "pc", [
        ("Pizza Margherita", "2.49"), ("Pizza Salami", "2.79"), ("Frozen Peas 750 g", "1.79"),
        ("Spinach Portions 450 g", "1.49"), ("French Fries 1 kg", "2.29"), ("Vanilla Ice Cream 1 l", "2.99"),
        ("Mixed Berries 300 g", "2.99"), ("Vegetable Spring Rolls 12 pcs", "2.49"),
    ]),
    ("Snacks & Sweets", FOOD, "pc", [
        ("Milk Chocolate 100 g", "1.19"), ("Dark Chocolate 70% 100 g", "1.49"),
        ("Hazelnut Chocolate 100 g", "1.29"), ("Salted Crisps 175 g", "1.79"), ("Paprika Crisps 175 g", "1.79"),
        ("Pretzel Sticks 250 g", "0.99"), ("Butter Biscuits 200 g", "1.39"), ("Chocolate Cookies 200 g", "1.89"),
        ("Gummy Bears 200 g", "1.09"), ("Salted Peanuts 200 g", "1.69"), ("Trail Mix 200 g", "2.49"),
        ("Rice Cakes 100 g", "0.99"), ("Popcorn Sweet 100 g", "1.29"), ("Liquorice 200 g", "1.49"),
    ]),
    ("Hot Drinks", FOOD, "pc", [
        ("Coffee Beans Crema 1 kg", "13.99"), ("Ground Coffee Classic 500 g", "5.99"),
        ("Espresso Beans 500 g", "7.49"), ("Instant Coffee 200 g", "6.49"), ("Black Tea 25 Bags", "1.99"),
        ("Green Tea 20 Bags", "2.29"), ("Peppermint Tea 20 Bags", "1.49"), ("Cocoa Powder 250 g", "2.79"),
    ]),
    ("Drinks", STANDARD, "pc", [
        ("Still Mineral Water 1.5 l", "0.49"), ("Sparkling Mineral Water 1.5 l", "0.49"),
        ("Orange Juice 1 l", "1.99"), ("Apple Juice 1 l", "1.49"), ("Multivitamin Juice 1 l", "1.79"),
        ("Cola 1.5 l", "1.59"), ("Cola Zero 1.5 l", "1.59"), ("Lemonade 1.5 l", "1.29"),
        ("Iced Tea Peach 1.5 l", "1.39"), ("Energy Drink 250 ml", "1.29"), ("Tonic Water 1 l", "1.19"),
        ("Pilsner Beer 0.5 l", "0.89"), ("Wheat Beer 0.5 l", "1.09"), ("Alcohol-free Beer 0.5 l", "0.89"),
        ("Red Wine Merlot 0.75 l", "5.99"), ("White Wine Riesling 0.75 l", "6.49"),
        ("Rosé Wine 0.75 l", "5.49"), ("Prosecco 0.75 l", "7.99"), ("Gin 0.7 l", "19.99"),
    ]),
    ("Household", STANDARD, "pc", [
        ("Toilet Paper 8 Rolls", "3.99"), ("Kitchen Roll 4 Rolls", "2.99"), ("Washing-up Liquid 500 ml", "1.29"),
        ("Laundry Detergent 20 Loads", "5.99"), ("Fabric Softener 1 l", "2.49"), ("Sponges 5 pcs", "0.99"),
        ("Bin Bags 35 l 25 pcs", "1.99"), ("Aluminium Foil 30 m", "2.49"), ("Cling Film 30 m", "1.79"),
        ("Baking Paper 10 m", "1.49"), ("AA Batteries 4 pcs", "3.99"), ("LED Bulb E27 8 W", "3.49"),
        ("Dishwasher Tablets 30 pcs", "5.49"), ("All-purpose Cleaner 1 l", "1.99"), ("Tealights 50 pcs", "2.99"),
        ("Paper Napkins 50 pcs", "1.29"),
    ]),
    ("Personal Care", STANDARD, "pc", [
        ("Shampoo 300 ml", "2.49"), ("Shower Gel 250 ml", "1.49"), ("Toothpaste 75 ml", "1.29"),
        ("Toothbrush Medium", "1.99"), ("Deodorant Spray 150 ml", "2.29"), ("Liquid Hand Soap 300 ml", "1.19"),
        ("Cotton Pads 80 pcs", "0.99"), ("Paper Tissues 10 Packs", "1.19"), ("Sun Cream SPF 30 200 ml", "6.99"),
        ("Lip Balm", "1.49"), ("Razor Blades 4 pcs", "7.99"), ("Body Lotion 400 ml", "3.49"),
    ]),
]

#: own brand lines: (prefix, price factor %, applies to categories)
_BRANDS = [
    ("Green Valley Organic", 145, {"Dairy & Eggs", "Pantry", "Bakery", "Snacks & Sweets", "Hot Drinks",
                                   "Frozen", "Drinks"}),
    ("Station Basics", 75, {"Dairy & Eggs", "Pantry", "Household", "Personal Care", "Snacks & Sweets",
                            "Frozen", "Drinks"}),
]

_EAN8_SKUS = {"D0006", "D0021", "D0045", "D0100"}   # a few small items carry EAN-8 codes


def _price_times(price: str, pct: int) -> str:
    cents = int(price.replace(".", ""))
    value = (cents * pct + 50) // 100
    value = max(9, value - value % 10 + 9)   # x.x9 pricing
    return f"{value // 100}.{value % 100:02d}"


def demo_rows() -> list[tuple]:
    """The demo catalog as import records (COLUMNS order), each with a valid barcode."""
    rows = []
    n = 0
    for category, vat, unit, items in _ITEMS:
        variants = [(name, price, False) for name, price in items]
        for brand, pct, cats in _BRANDS:
            if category in cats and unit == "pc":
                variants += [(f"{brand} {name}", _price_times(price, pct), True)
                             for name, price in items[::2]]
        for name, price, _branded in variants:
            n += 1
            sku = f"D{n:04d}"
            if unit == "kg":
                # in-store weight code: 23 IIIII 00000 C (the scale prints 23 IIIII WWWWW C)
                code = catalog.with_check_digit(f"23{n:05d}00000")
            else:
                code = catalog.with_check_digit(f"40{12345 + n * 7:010d}")
            rows.append((sku, code, name, price, vat, category, unit, "1"))
            if sku in _EAN8_SKUS:
                rows.append((sku, catalog.with_check_digit(f"4{n:06d}"), name, price, vat, category, unit, "1"))
    return rows


def demo_db_path(cfg: configmod.Config) -> Path:
    return cfg.data_dir / DEMO_DB_NAME


def demo_config(config_path=None, *, db: str | None = None, terminal: str | None = None,
                env: dict | None = None) -> configmod.Config:
    """The config for ``--demo``: the usual file and environment, then the demo
    store's own database and settings (source "demo")."""
    cfg = configmod.load(config_path, env=env, overrides={"terminal.id": terminal})
    url = db or f"sqlite:///{demo_db_path(cfg).resolve()}"
    cfg.set("database.url", url, "command line" if db else "demo")
    for key, value in DEMO_SETTINGS.items():
        if cfg.sources.get(key, "default") == "default":
            cfg.set(key, value, "demo")
    return cfg


def ensure_demo(cfg: configmod.Config, *, log=None) -> dict:
    """Create the demo store on first use (schema, catalog, users); reuse it
    after. Idempotent: only what is missing is added. Returns what was done."""
    from station import auth
    from station.context import open_station

    from station import files
    say = log or (lambda _m: None)
    files.make_private_dir(cfg.data_dir, group=cfg.security.store_group)
    ctx = open_station(cfg, check_schema=False, upgrade=True)
    done = {"created": False, "products": 0, "users": [], "totp": [], "ctx": ctx}
    if not Product.select().exists():
        say("creating the demo catalog ...")
        rep = catalog.import_records(ctx, ((i + 2, r) for i, r in enumerate(demo_rows())),
                                     catalog.ImportReport(path="demo catalog"))
        if rep.errors:   # a bug in the demo data, never the user's fault
            raise RuntimeError(f"demo catalog: {rep.errors[0]}")
        done["products"] = rep.products_added
        done["created"] = True
    new_users = []
    for name, role, pin, full in DEMO_USERS:
        if User.get_or_none(User.name == name) is None:
            auth.add_user(ctx, None, name, role, pin, full_name=full)
            new_users.append(name)
    done["users"] = new_users
    if new_users:
        from station import totp_enrol
        for name in new_users:
            u = User.get(User.name == name)
            if u.role in cfg.security.totp_roles and u.totp_secret is None:
                totp_enrol.enrol_known_secret(ctx, name)
                done["totp"].append(name)
    done["funds"] = _demo_treasury(ctx)
    return done


def _demo_treasury(ctx) -> bool:
    """Opening balances, petty cash levels and two waiting payments, once."""
    from data.treasury import LedgerEntry
    from station.treasury import funds, payments
    if LedgerEntry.select().exists():
        return False
    admin, manager = User.get(User.name == "admin"), User.get(User.name == "manager")
    for name, amount in DEMO_FUNDS.items():
        funds.opening_balance(ctx, admin, name, amount)
    funds.set_levels(ctx, admin, "petty", reorder=150_00, target=300_00, auto_replenish=True, replenish_from="safe")
    payments.request(ctx, manager, "petty", 18_50, "Corner Hardware", "light bulbs")
    rid = payments.request(ctx, manager, "petty", 42_00, "Window Cleaning Co", "monthly windows")
    payments.approve(ctx, admin, rid)
    return True


def demo_totp_secret() -> str:
    from station.totp_enrol import DEMO_SECRET
    return DEMO_SECRET
