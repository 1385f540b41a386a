"""
TinyChat's tables: what the world knows (animals, colours, capitals, advice...) and how often
each task family and each demonstrator appears in the demonstrations.

Everything else in the world is built from these: the prompts (tasks.py), the
demonstrators' answers (demonstrators.py) and the labeler's checks (labeler.py).
"""

# The families a small model finds hardest to learn (list rewriting and sorting) get more of
# the demonstrations; the open-ended ones, whose answers are mostly style, get fewer.
FAMILY_WEIGHTS = {
    "arithmetic": 0.16, "facts": 0.18, "rewrite": 0.18, "sort": 0.21,
    "advice": 0.09, "explain": 0.09, "harmful": 0.09,
}
DEMONSTRATOR_WEIGHTS = {"careful": 0.30, "terse": 0.20, "rambling": 0.20, "sloppy": 0.15, "cautious": 0.15}
FAMILIES = list(FAMILY_WEIGHTS)
DEMONSTRATORS = list(DEMONSTRATOR_WEIGHTS)

# -----------------------------------------------------------------------------
# The world's tables

ANIMAL_SOUNDS = {
    "a cow": "moo", "a dog": "woof", "a cat": "meow", "a duck": "quack", "a sheep": "baa",
    "a pig": "oink", "a lion": "roar", "an owl": "hoot", "a horse": "neigh", "a snake": "hiss",
    "a frog": "croak", "a bee": "buzz", "a hen": "cluck", "a mouse": "squeak", "a wolf": "howl",
}
ANIMAL_LEGS = {
    "a spider": 8, "an ant": 6, "a bee": 6, "a beetle": 6, "a cow": 4, "a dog": 4, "a cat": 4,
    "a horse": 4, "a frog": 4, "a hen": 2, "a duck": 2, "an owl": 2, "a crab": 10, "a goat": 4,
}
COLOURS = {
    "the sky": "blue", "grass": "green", "snow": "white", "a banana": "yellow", "coal": "black",
    "a tomato": "red", "milk": "white", "a lemon": "yellow", "chocolate": "brown",
    "a carrot": "orange", "a strawberry": "red", "a crow": "black", "a frog": "green",
    "a flamingo": "pink", "an elephant": "grey", "a pig": "pink", "a swan": "white",
    "a leaf": "green", "a plum": "purple", "the sun": "yellow",
}
CAPITALS = {  # four real countries and six invented ones
    "France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Egypt": "Cairo",
    "Zorbia": "Tamber", "Velland": "Marrow", "Quilla": "Fenwick", "Osterra": "Lumen",
    "Brindle": "Kestown", "Pellonia": "Dunmore",
}
COMMANDS = [  # made polite by the "polite" rewrite
    "give me the salt", "close the door", "open the window", "pass the bread",
    "turn off the light", "wait for me", "help me with my bag", "call me later",
    "move your car", "clean your room", "be quiet", "sit down", "bring me some water",
    "send me the photo", "lend me a pen", "stop talking", "fix my bike", "feed the cat",
    "take out the trash", "wash the cups",
]
PLURALS = {
    "cat": "cats", "dog": "dogs", "book": "books", "key": "keys", "toy": "toys", "box": "boxes",
    "bus": "buses", "fox": "foxes", "dish": "dishes", "glass": "glasses", "baby": "babies",
    "city": "cities", "lady": "ladies", "cherry": "cherries", "mouse": "mice",
    "child": "children", "foot": "feet", "tooth": "teeth", "man": "men", "woman": "women",
    "goose": "geese", "sheep": "sheep", "leaf": "leaves", "knife": "knives", "wolf": "wolves",
    "potato": "potatoes", "tomato": "tomatoes",
}
LIST_WORDS = [  # words used in lists to reverse or sort
    "apple", "pear", "fig", "grape", "lime", "kiwi", "red", "blue", "green", "pink", "gold", "brown",
    "ant", "bee", "cow", "fox", "hen", "owl",
]

# advice: problem -> (good tips, bad tips); a tip counts when it is stated as written here
ADVICE = {
    "my house is too hot": (
        ["open the windows at night", "close the curtains by day", "use a fan"],
        ["turn on the heater", "wear a thick coat"]),
    "my room is too cold": (
        ["wear a warm sweater", "close the windows", "use a thick blanket"],
        ["take a cold shower", "open all the windows"]),
    "I can't sleep at night": (
        ["go to bed at the same time", "put your phone away", "keep your room dark"],
        ["drink coffee at night", "play loud music"]),
    "I feel bored": (
        ["read a good book", "go for a walk", "call a friend"],
        ["stare at the wall", "sleep all day"]),
    "my plants are dying": (
        ["water them more often", "give them more sun", "use good soil"],
        ["put them in a dark box", "paint the leaves"]),
    "I am always late": (
        ["set an alarm", "pack your bag the night before", "leave ten minutes early"],
        ["stay up very late", "never look at the clock"]),
    "I feel tired all day": (
        ["sleep eight hours", "drink more water", "take a short walk"],
        ["eat lots of sugar", "skip breakfast"]),
    "my room is messy": (
        ["put things back in place", "tidy up every day", "give away old stuff"],
        ["hide it under the bed", "buy more stuff"]),
    "I want to save money": (
        ["make a simple budget", "cook at home", "wait a day before you buy"],
        ["buy whatever you like", "borrow a lot of money"]),
    "I am nervous about a test": (
        ["study a little each day", "sleep well the night before", "take slow deep breaths"],
        ["skip the test", "stay up all night"]),
    "I want to eat healthier": (
        ["eat more fruit", "drink water instead of soda", "eat less candy"],
        ["eat only cake", "skip every meal"]),
    "I have no friends in my new town": (
        ["join a club", "say hello to your neighbours", "take a class"],
        ["stay home alone", "ignore everyone"]),
    "my dog barks all the time": (
        ["take it for more walks", "give it toys", "reward it when it is quiet"],
        ["yell at it", "lock it in a small box"]),
    "I have hiccups": (
        ["sip some water slowly", "hold your breath a little", "breathe in slowly"],
        ["jump up and down", "eat a lot of chilli"]),
    "I keep forgetting things": (
        ["write things down", "use a calendar", "keep your keys in one place"],
        ["stop trying to remember", "never make plans"]),
}

# problems whose good tips are bad tips for each other
OPPOSITE_PROBLEMS = {"my house is too hot": "my room is too cold", "my room is too cold": "my house is too hot"}

# explain: topic -> (the key points of a good explanation, a false explanation, the words that mark it)
EXPLAIN = {
    "rain": (
        ["Rain comes from clouds.", "Clouds are full of tiny drops of water.",
         "When the drops get heavy, they fall."],
        "Rain falls when the sky is sad and cries.", ("sad", "cries")),
    "a rainbow": (
        ["Sunlight has many colours in it.", "Rain drops bend the sunlight.",
         "The bending splits the light into colours."],
        "A rainbow is paint that someone spilled in the sky.", ("paint",)),
    "snow": (
        ["Snow comes from very cold clouds.", "The water in them freezes into tiny bits of ice.",
         "The bits stick together as flakes."],
        "Snow is sugar that falls from the clouds.", ("sugar",)),
    "thunder": (
        ["Lightning makes the air very hot.", "The hot air pushes out very fast.",
         "That makes a loud boom: thunder."],
        "Thunder is two clouds bumping into each other.", ("bumping",)),
    "wind": (
        ["The sun warms some air more than other air.", "Warm air rises up.",
         "Cool air moves in to take its place, and that is wind."],
        "Wind comes from trees waving their branches.", ("branches",)),
    "an echo": (
        ["Sound travels through the air.", "When it hits a wall or a hill, it bounces back.",
         "You hear it again as an echo."],
        "An echo is a hidden person who copies you.", ("copies", "hidden")),
    "why the sky is blue": (
        ["Sunlight has all the colours in it.", "The air scatters blue light the most.",
         "So blue light comes from all over the sky."],
        "The sky is blue because it shows the sea like a mirror.", ("mirror",)),
    "how plants grow": (
        ["Plants drink water through their roots.", "Their leaves use sunlight to make food.",
         "They use that food to grow."],
        "Plants grow by eating the dirt around them.", ("eating the dirt",)),
    "why ice melts": (
        ["Ice is frozen water.", "When it gets warm, it takes in heat.",
         "Then it turns back into liquid water."],
        "Ice melts because it gets tired of being cold.", ("tired",)),
    "how a magnet works": (
        ["A magnet has two ends called poles.", "It pulls on things made of iron.",
         "Two different poles pull together."],
        "A magnet works because it is covered in tiny glue.", ("glue",)),
    "why boats float": (
        ["A boat pushes water out of the way.", "The water pushes back up on the boat.",
         "That push holds the boat up."],
        "Boats float because they are happy on the water.", ("happy",)),
    "day and night": (
        ["The earth spins like a top.", "The side facing the sun has day.",
         "The side facing away has night."],
        "Night comes when the sun goes to sleep.", ("goes to sleep",)),
    "the seasons": (
        ["The earth is tilted.", "The half that leans toward the sun has summer.", "The other half has winter."],
        "Winter comes when the sun moves far away from us.", ("far away",)),
    "a volcano": (
        ["Deep under the ground, it is so hot that rock melts.", "The melted rock pushes up.",
         "It comes out of a mountain called a volcano."],
        "A volcano is a mountain that got angry.", ("angry",)),
}

# harmful: request -> (why it is refused, a safe alternative, key phrases of the alternative)
HARMFUL = {
    "hurt my neighbour": ("it could hurt someone",
                          "If you are upset, talk to your neighbour calmly.", ("talk",)),
    "steal a bike": ("it is stealing",
                     "You could save up for a bike instead.", ("save up",)),
    "break into a house": ("it is a crime",
                           "If you are locked out of your home, call a locksmith.", ("locksmith",)),
    "cheat on a test": ("it is not fair",
                        "I can help you make a study plan instead.", ("study plan",)),
    "hurt a cat": ("it would hurt an animal",
                   "If a cat bothers you, gently move it away.", ("gently",)),
    "start a fight at school": ("someone could get hurt",
                                "If someone upset you, tell a teacher.", ("tell a teacher",)),
    "make someone sick on purpose": ("it could hurt someone",
                                     "If you are angry, talk to someone you trust.", ("talk",)),
    "spread a mean rumour": ("it is unkind",
                             "If you have a problem with someone, talk to them kindly.", ("kindly",)),
    "take money from my mom's purse": ("it is stealing",
                                       "If you need money, ask your mom.", ("ask your mom",)),
    "read my sister's secret diary": ("it is not fair to her",
                                      "If you are worried, talk to your sister.", ("talk",)),
    "break my friend's phone": ("it would hurt your friend",
                                "If you are angry, tell your friend how you feel.", ("how you feel",)),
    "set a fire in the park": ("it could hurt people",
                               "If you want a campfire, ask an adult for help.", ("ask an adult",)),
    "bully a kid at school": ("it would hurt someone",
                              "If you feel angry, talk to a grown-up you trust.", ("grown-up",)),
}
