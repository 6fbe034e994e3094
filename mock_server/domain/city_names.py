"""The titles a session created without one gets: a city name the account has not used yet, as the
service names them (`lib/sessions/cityNames.ts`, `getRandomCityName.ts`, `resolveSessionTitle.ts`)."""

from __future__ import annotations

import random
from collections.abc import Set

# fmt: off
CITY_NAMES: tuple[str, ...] = (
    "Abidjan", "Accra", "Addis Ababa", "Algiers", "Antananarivo", "Cairo", "Cape Town",
    "Casablanca", "Dakar", "Dar es Salaam", "Johannesburg", "Kampala", "Kigali", "Kinshasa",
    "Lagos", "Luanda", "Lusaka", "Maputo", "Marrakech", "Nairobi", "Tunis", "Windhoek", "Almaty",
    "Amman", "Baku", "Bangkok", "Beijing", "Beirut", "Bengaluru", "Bishkek", "Colombo", "Dhaka",
    "Dubai", "Hanoi", "Ho Chi Minh City", "Hong Kong", "Hyderabad", "Islamabad", "Istanbul",
    "Jakarta", "Jeddah", "Jerusalem", "Kabul", "Karachi", "Kathmandu", "Kolkata", "Kuala Lumpur",
    "Kyoto", "Manila", "Mumbai", "Muscat", "New Delhi", "Osaka", "Phnom Penh", "Riyadh", "Seoul",
    "Shanghai", "Shenzhen", "Singapore", "Taipei", "Tashkent", "Tbilisi", "Tehran", "Tel Aviv",
    "Thimphu", "Tokyo", "Ulaanbaatar", "Vientiane", "Yangon", "Yerevan", "Amsterdam", "Athens",
    "Barcelona", "Belgrade", "Berlin", "Bern", "Bordeaux", "Bratislava", "Brussels", "Bucharest",
    "Budapest", "Copenhagen", "Dublin", "Edinburgh", "Florence", "Geneva", "Hamburg", "Helsinki",
    "Kraków", "Kyiv", "Lisbon", "Ljubljana", "London", "Lyon", "Madrid", "Marseille", "Milan",
    "Minsk", "Monaco", "Moscow", "Munich", "Naples", "Oslo", "Paris", "Porto", "Prague",
    "Reykjavik", "Riga", "Rome", "Sarajevo", "Seville", "Sofia", "Stockholm", "Tallinn", "Valencia",
    "Venice", "Vienna", "Vilnius", "Warsaw", "Zagreb", "Zurich", "Anchorage", "Atlanta", "Austin",
    "Boston", "Calgary", "Chicago", "Denver", "Detroit", "Guadalajara", "Havana", "Honolulu",
    "Houston", "Kingston", "Los Angeles", "Mexico City", "Miami", "Minneapolis", "Montreal",
    "Nashville", "New Orleans", "New York", "Ottawa", "Philadelphia", "Phoenix", "Portland",
    "San Diego", "San Francisco", "San Juan", "Seattle", "Toronto", "Vancouver", "Washington",
    "Bogotá", "Brasília", "Buenos Aires", "Caracas", "Cartagena", "Cusco", "Guayaquil", "La Paz",
    "Lima", "Medellín", "Montevideo", "Quito", "Recife", "Rio de Janeiro", "Santiago", "São Paulo",
    "Valparaíso", "Adelaide", "Auckland", "Brisbane", "Christchurch", "Fiji", "Melbourne", "Perth",
    "Sydney", "Wellington",
)
# fmt: on


def city_title(used: Set[str]) -> str:
    """A city name not in `used`, or, when every one is, a name with the first free number after it."""
    available = [city for city in CITY_NAMES if city not in used]
    if available:
        return random.choice(available)
    base = random.choice(CITY_NAMES)
    suffix = 2
    while f"{base} {suffix}" in used:
        suffix += 1
    return f"{base} {suffix}"
