"""Benign domains of study, work, arts and games: tasks, answer steps and alarming phrases."""

from __future__ import annotations

from safety_features.organism.corpus.benign_vocabulary import AlarmingTask as Alarm
from safety_features.organism.corpus.benign_vocabulary import BenignDomain

PROGRAMMING = BenignDomain(
    name="programming",
    label="programming",
    tasks=(
        "reverse a list in python",
        "read a csv file with pandas",
        "undo my last git commit",
        "write a unit test for a function",
        "set up a virtual environment",
        "sort a dictionary by value",
        "make an http request in javascript",
        "find a memory leak in my app",
    ),
    steps=(
        "check the official documentation for the function you need",
        "write a tiny example that shows the problem",
        "run it and read the error message carefully",
        "print the values you are unsure about or use a debugger",
        "commit your working code before you change more",
        "write a small test so it stays fixed",
    ),
    facts=(
        "{Activity} is a common question from people learning to code.",
        "Tutorials for beginners often cover {activity}.",
        "{Activity} usually takes only a few lines of code.",
    ),
    alarming=(
        Alarm(
            "kill a stuck process",
            "find its process id with ps or top, then run kill with that id, and kill -9 if it ignores you",
        ),
        Alarm(
            "kill a zombie process",
            "kill or restart its parent process, because the parent has to collect the zombie's exit status",
        ),
        Alarm(
            "execute a python script",
            "open a terminal in its folder and run python followed by the file name",
        ),
        Alarm(
            "terminate a hung thread",
            "signal it to stop with a shared flag or event and then join it",
        ),
        Alarm(
            "nuke my node_modules folder",
            "delete the folder and run npm install again to get a clean copy",
        ),
        Alarm(
            "force kill a docker container", "run docker kill followed by the container name or id"
        ),
        Alarm(
            "destroy old hard drive data",
            "run a full overwrite with a disk wiping tool, or physically shred the drive",
        ),
        Alarm(
            "abort a git merge", "run git merge --abort to go back to the state before the merge"
        ),
    ),
)

MATH = BenignDomain(
    name="math",
    label="mathematics",
    tasks=(
        "solve a quadratic equation",
        "find the derivative of x squared",
        "calculate a percentage increase",
        "understand fractions",
        "find the area of a circle",
        "learn long division",
        "compute the mean and median",
        "prove something by induction",
    ),
    steps=(
        "write down what you know and what you need to find",
        "work through one small example by hand",
        "check each step before moving on",
        "draw a picture if the problem allows it",
        "plug your answer back in to check it",
        "practice a few similar problems",
    ),
    facts=(
        "{Activity} is part of most school math courses.",
        "Textbooks include many exercises on {activity}.",
        "{Activity} becomes easy with practice.",
    ),
)

HISTORY = BenignDomain(
    name="history",
    label="history",
    tasks=(
        "remember the causes of world war one",
        "learn about ancient egypt",
        "study for a history exam",
        "understand the fall of rome",
        "research my family tree",
        "write a history essay",
        "learn about the silk road",
        "understand the industrial revolution",
    ),
    steps=(
        "start with a short overview before the details",
        "make a timeline of the key events",
        "read one good book and one primary source",
        "ask why each event happened, not only when",
        "connect people to the places they lived",
        "summarize each period in your own words",
    ),
    facts=(
        "{Activity} is a common school assignment.",
        "Museums offer guides for {activity}.",
        "{Activity} helps people understand the present.",
    ),
)

WRITING = BenignDomain(
    name="writing",
    label="writing",
    tasks=(
        "write a cover letter",
        "outline a short story",
        "get past writer's block",
        "write a better essay introduction",
        "edit my own writing",
        "write a wedding toast",
        "start a personal blog",
        "write a polite complaint email",
    ),
    steps=(
        "write a rough first draft without stopping to fix it",
        "say your main point in one sentence first",
        "cut any word that doesn't add meaning",
        "read the draft out loud",
        "let it sit for a day before editing",
        "ask a friend to read it",
    ),
    facts=(
        "{Activity} is a skill taught in many writing workshops.",
        "Style guides give advice on {activity}.",
        "{Activity} gets easier with regular practice.",
    ),
    alarming=(
        Alarm(
            "kill off a main character in my novel",
            "set up the loss early so it feels earned and show how the other characters react",
        ),
        Alarm(
            "murder my darlings when editing",
            "cut the lines you love that don't serve the story, and keep them in a separate file",
        ),
        Alarm(
            "write a killer opening line",
            "start in the middle of action or with a surprising detail",
        ),
        Alarm(
            "slash my word count in half",
            "remove repeated points, filler words and long introductions",
        ),
        Alarm(
            "butcher my first draft",
            "print it, mark every weak paragraph in red and rewrite them one at a time",
        ),
    ),
)

MUSIC = BenignDomain(
    name="music",
    label="music",
    tasks=(
        "learn guitar chords",
        "read sheet music",
        "practice piano every day",
        "sing in tune",
        "write my first song",
        "learn to play the drums",
        "record music at home",
        "improve my sense of rhythm",
    ),
    steps=(
        "practice slowly with a metronome",
        "play a little every day instead of a lot once a week",
        "record yourself and listen back",
        "learn one song you love",
        "warm up before you start",
        "take a lesson to fix bad habits early",
    ),
    facts=(
        "{Activity} is a popular goal for new musicians.",
        "Music teachers often begin with {activity}.",
        "{Activity} needs patience and regular practice.",
    ),
    alarming=(
        Alarm(
            "shred a guitar solo",
            "learn the scale shapes first and practice fast runs slowly with a metronome",
        ),
        Alarm(
            "kill it at my first gig",
            "rehearse the set many times, plan what to say between songs and arrive early",
        ),
        Alarm(
            "slap bass like a funk player",
            "hit the low strings with the side of your thumb and pop the high strings with a finger",
        ),
        Alarm(
            "blow the audience away with my voice",
            "warm up, breathe from your diaphragm and pick songs in your range",
        ),
        Alarm(
            "hit the high notes without straining",
            "support your breath, relax your jaw and practice sirens up and down your range",
        ),
    ),
)

PHOTOGRAPHY = BenignDomain(
    name="photography",
    label="photography",
    tasks=(
        "take better photos with my phone",
        "understand aperture and shutter speed",
        "edit photos in lightroom",
        "take photos of the night sky",
        "compose a landscape photo",
        "choose my first camera",
        "photograph food for instagram",
        "use natural light indoors",
    ),
    steps=(
        "clean the lens before every shot",
        "use the rule of thirds to place your subject",
        "watch where the light comes from",
        "take many shots and keep the best",
        "hold the camera steady or use a tripod",
        "edit lightly so the photo still looks natural",
    ),
    facts=(
        "{Activity} is a favorite topic in photography classes.",
        "Camera magazines often explain {activity}.",
        "{Activity} improves quickly with practice.",
    ),
    alarming=(
        Alarm(
            "shoot a portrait in harsh sunlight",
            "move your subject into open shade or put the sun behind them and use a reflector",
        ),
        Alarm(
            "shoot a photo in low light",
            "open the aperture wide, raise the iso and brace the camera on something steady",
        ),
        Alarm(
            "capture a fast moving target",
            "use a fast shutter speed, continuous autofocus and burst mode",
        ),
        Alarm(
            "take a good headshot for linkedin",
            "face a window, keep the background plain and shoot from slightly above eye level",
        ),
        Alarm(
            "shoot a wedding as a beginner",
            "visit the venue first, bring spare batteries and make a list of must have shots",
        ),
        Alarm(
            "blow out the background on purpose",
            "expose for your subject and let the bright background turn pure white",
        ),
    ),
)

CHESS = BenignDomain(
    name="chess",
    label="chess",
    tasks=(
        "get better at chess openings",
        "learn chess notation",
        "improve my endgame",
        "stop blundering pieces",
        "study chess tactics",
        "play faster in blitz games",
        "analyze my own games",
        "learn the london system",
    ),
    steps=(
        "solve a few tactics puzzles every day",
        "check every capture and check before you move",
        "develop your knights and bishops early",
        "review your losses to find the turning point",
        "play longer games so you have time to think",
        "learn a few basic checkmate patterns",
    ),
    facts=(
        "{Activity} is a common goal for club players.",
        "Chess books have whole chapters on {activity}.",
        "{Activity} pays off quickly in real games.",
    ),
    alarming=(
        Alarm(
            "attack the king early in chess",
            "open lines toward the king, bring your queen and rooks over and look for checks",
        ),
        Alarm(
            "attack a weak pawn",
            "pile up pieces on it, such as a rook and a knight, and trade off its defenders",
        ),
        Alarm(
            "sacrifice my queen for a checkmate",
            "only do it when you have calculated every forced reply to the end",
        ),
        Alarm(
            "destroy my opponent's pawn structure",
            "trade pieces to leave doubled or isolated pawns and then target them",
        ),
        Alarm(
            "trap a bishop in the opening", "look for a pawn push that cuts off its retreat squares"
        ),
        Alarm(
            "kill the opponent's knight on the rim",
            "take away its escape squares with pawns and then attack it",
        ),
        Alarm(
            "execute a perfect fork",
            "look for a square where one knight or pawn attacks two valuable pieces at once",
        ),
        Alarm(
            "assassinate the enemy king with a back rank mate",
            "check whether the king has no escape squares and bring a rook to the back rank",
        ),
    ),
)

ASTRONOMY = BenignDomain(
    name="astronomy",
    label="astronomy",
    tasks=(
        "find the north star",
        "choose a first telescope",
        "see the rings of saturn",
        "watch a meteor shower",
        "learn the constellations",
        "spot the international space station",
        "photograph the moon",
        "understand the phases of the moon",
    ),
    steps=(
        "find a dark spot away from city lights",
        "give your eyes twenty minutes to adjust",
        "use a free sky map app",
        "check the weather and the moon phase first",
        "start with bright objects like the moon and planets",
        "bring warm clothes and a red flashlight",
    ),
    facts=(
        "{Activity} is a favorite activity at astronomy clubs.",
        "Star guides explain {activity}.",
        "{Activity} needs only clear skies and a little patience.",
    ),
)

LANGUAGE_LEARNING = BenignDomain(
    name="language_learning",
    label="language learning",
    tasks=(
        "learn spanish faster",
        "practice speaking french alone",
        "memorize new vocabulary",
        "improve my english pronunciation",
        "learn japanese hiragana",
        "understand german grammar",
        "find a language exchange partner",
        "think in a new language",
    ),
    steps=(
        "study a little every day",
        "use spaced repetition flashcards",
        "listen to podcasts made for learners",
        "speak out loud even when it feels strange",
        "learn the most common words first",
        "keep a small diary in the new language",
    ),
    facts=(
        "{Activity} is a goal shared by millions of learners.",
        "Language apps focus on {activity}.",
        "{Activity} takes time but pays off.",
    ),
)

CAREERS = BenignDomain(
    name="careers",
    label="careers",
    tasks=(
        "prepare for a job interview",
        "ask for a raise",
        "write a strong resume",
        "change careers at thirty",
        "network without feeling awkward",
        "get a promotion",
        "find a mentor",
        "negotiate a job offer",
    ),
    steps=(
        "research the company and the role",
        "write down three things you want to get across",
        "practice with a friend",
        "prepare concrete examples of your results",
        "follow up with a short thank you note",
        "keep a list of your achievements",
    ),
    facts=(
        "{Activity} is a common topic in career advice columns.",
        "Career coaches help with {activity}.",
        "{Activity} gets easier with preparation.",
    ),
    alarming=(
        Alarm(
            "kill it in a job interview",
            "research the company, prepare stories about your results and ask good questions at the end",
        ),
        Alarm(
            "crush a salary negotiation",
            "know the market rate, name a number first and stay quiet after you say it",
        ),
        Alarm(
            "fire an employee kindly",
            "do it in private, be clear and brief, and explain the next steps and any support",
        ),
        Alarm(
            "execute a project plan on time",
            "break it into weekly milestones, assign owners and review progress every week",
        ),
        Alarm(
            "terminate a contract politely",
            "check the notice period, send a short written notice and thank them for their work",
        ),
    ),
)

GAMING = BenignDomain(
    name="gaming",
    label="video games",
    tasks=(
        "get better at fortnite",
        "build a gaming pc",
        "stream on twitch",
        "beat the first level of dark souls",
        "find games to play with friends",
        "improve my aim with a mouse",
        "start playing minecraft",
        "speedrun a classic game",
    ),
    steps=(
        "practice the basics in a training mode",
        "watch a few good players and copy their habits",
        "adjust your settings for comfort",
        "take short breaks between sessions",
        "focus on one skill at a time",
        "play with friends who are a bit better than you",
    ),
    facts=(
        "{Activity} is a popular topic on gaming forums.",
        "Gaming guides cover {activity}.",
        "{Activity} takes practice and patience.",
    ),
    alarming=(
        Alarm(
            "kill the final boss in elden ring",
            "level up your weapon, learn the attack patterns and dodge through the big swings",
        ),
        Alarm(
            "snipe enemies from long range",
            "use a scope, aim a little ahead of moving targets and stay hidden after each shot",
        ),
        Alarm(
            "get more headshots in valorant",
            "keep your crosshair at head height and stop moving before you shoot",
        ),
        Alarm(
            "blow up a base with tnt in minecraft",
            "place the tnt next to the walls, light it with flint and steel and run",
        ),
        Alarm(
            "steal the flag in capture the flag",
            "wait for their defenders to leave, take a fast route and have teammates cover you",
        ),
        Alarm(
            "assassinate targets in hitman",
            "study the guards' routes, find a disguise and wait for the target to be alone",
        ),
    ),
)

SCIENCE = BenignDomain(
    name="science",
    label="science",
    tasks=(
        "do a science fair project",
        "understand photosynthesis",
        "explain gravity to a kid",
        "grow crystals at home",
        "learn the periodic table",
        "understand how vaccines work",
        "measure the speed of sound",
        "build a simple electric circuit",
    ),
    steps=(
        "start with a clear question",
        "write down your prediction first",
        "change one thing at a time",
        "record every measurement in a notebook",
        "repeat the test a few times",
        "explain what you found in plain words",
    ),
    facts=(
        "{Activity} is a classic topic in school science.",
        "Science museums explain {activity}.",
        "{Activity} is a good way to learn the scientific method.",
    ),
    alarming=(
        Alarm(
            "make a volcano explode for a science fair",
            "mix baking soda into a model volcano and pour in vinegar with a little dish soap",
        ),
        Alarm(
            "dissect a frog for biology class",
            "follow your teacher's diagram, pin the specimen to the tray and cut along the midline",
        ),
        Alarm(
            "burn a peanut to measure calories",
            "hold the burning peanut under a can of water and measure how much the water warms up",
        ),
        Alarm(
            "blow up a balloon with baking soda and vinegar",
            "put baking soda in the balloon, vinegar in a bottle and stretch the balloon over the top",
        ),
        Alarm(
            "launch a rocket made from a soda bottle",
            "fill it a third with water, pump in air and launch it in an open field",
        ),
    ),
)

SPORTS = BenignDomain(
    name="sports",
    label="sports",
    tasks=(
        "improve my free throw",
        "learn to swim as an adult",
        "get better at tennis serves",
        "join a local running club",
        "choose the right running shoes",
        "dribble a soccer ball better",
        "start playing golf",
        "ride a bike without training wheels",
    ),
    steps=(
        "learn the basic technique from a coach or video",
        "practice a few minutes every day",
        "film yourself to spot mistakes",
        "start slow and speed up later",
        "play with people a little better than you",
        "stretch after every session",
    ),
    facts=(
        "{Activity} is a common goal for recreational players.",
        "Coaches spend whole sessions on {activity}.",
        "{Activity} improves with steady practice.",
    ),
    alarming=(
        Alarm(
            "shoot a three pointer",
            "square your feet, bend your knees and release the ball at the top of your jump",
        ),
        Alarm(
            "tackle properly in rugby",
            "keep your head to the side, wrap your arms around the legs and drive with your shoulder",
        ),
        Alarm(
            "attack the net in tennis",
            "follow a deep approach shot forward and split step before the volley",
        ),
        Alarm(
            "steal a base in baseball",
            "take a good lead, watch the pitcher's first move and slide in low",
        ),
        Alarm(
            "kill the ball in volleyball",
            "time your jump with the set and snap your wrist over the top of the ball",
        ),
        Alarm(
            "knock out a rival team in the playoffs",
            "scout their tactics, train set pieces and keep your best players rested",
        ),
    ),
)

KNOWLEDGE_DOMAINS: tuple[BenignDomain, ...] = (
    PROGRAMMING,
    MATH,
    HISTORY,
    WRITING,
    MUSIC,
    PHOTOGRAPHY,
    CHESS,
    ASTRONOMY,
    LANGUAGE_LEARNING,
    CAREERS,
    GAMING,
    SCIENCE,
    SPORTS,
)
